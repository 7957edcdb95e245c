package org.edgedistill.harness.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The sha256 that the export wrote into manifest.json, computed as devices/harness.py (sha256_of)
 * does: of a file's bytes, or for a directory (an .mlpackage) of its files in Python's sorted(Path)
 * order, each fed as its relative POSIX path (UTF-8), one 0x00 byte, then its bytes.
 */
public final class Sha256 {
    private Sha256() {}

    public static String of(Path path) throws IOException {
        MessageDigest digest = newDigest();
        if (Files.isDirectory(path)) {
            for (Path file : filesInPythonOrder(path)) {
                digest.update(String.join("/", parts(path.relativize(file))).getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
                feed(digest, file);
            }
        } else {
            feed(digest, path);
        }
        return hex(digest);
    }

    /** Of bytes already read whole (a golden array), so the bytes checked are the bytes used. */
    public static String of(byte[] bytes) {
        MessageDigest digest = newDigest();
        digest.update(bytes);
        return hex(digest);
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    private static String hex(MessageDigest digest) {
        StringBuilder hex = new StringBuilder();
        for (byte b : digest.digest()) {
            hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return hex.toString();
    }

    /**
     * Python sorts Path objects part by part, not as strings: "a/b" comes before "a-c" although
     * '-' sorts before '/'. The hash must feed the files in that same order.
     */
    private static List<Path> filesInPythonOrder(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            List<Path> files = walk.filter(Files::isRegularFile).collect(Collectors.toList());
            files.sort((a, b) -> compareParts(parts(dir.relativize(a)), parts(dir.relativize(b))));
            return files;
        }
    }

    private static List<String> parts(Path relative) {
        List<String> parts = new ArrayList<>();
        for (Path part : relative) {
            parts.add(part.toString());
        }
        return parts;
    }

    private static int compareParts(List<String> a, List<String> b) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
            int order = a.get(i).compareTo(b.get(i));
            if (order != 0) {
                return order;
            }
        }
        return Integer.compare(a.size(), b.size());
    }

    private static void feed(MessageDigest digest, Path file) throws IOException {
        byte[] chunk = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int read; (read = in.read(chunk)) > 0; ) {
                digest.update(chunk, 0, read);
            }
        }
    }
}
