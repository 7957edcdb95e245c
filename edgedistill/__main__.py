from edgedistill.cli import app

app(prog_name="edgedistill")
