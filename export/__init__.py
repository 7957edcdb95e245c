"""Exporters to ExecuTorch, Core ML and TFLite with a shared bundle writer and verifier."""
