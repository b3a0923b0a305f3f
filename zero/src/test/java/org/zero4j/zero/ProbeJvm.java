package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a memory probe's {@code main} in a child JVM whose resident set shows what is live: a fixed
 * heap touched up front, no JavaCPP garbage collection of native memory, and glibc returning every
 * large block to the system when freed.
 *
 * <p>Note [malloc in the memory test]: with {@code MALLOC_MMAP_THRESHOLD_} fixed at 1 MiB, blocks
 * of 1 MiB or more are mapped and unmapped one by one, so a freed tensor leaves the resident set at
 * once instead of staying in malloc's free lists; two arenas keep per-thread arenas from hiding
 * small blocks.
 */
public final class ProbeJvm {

  private ProbeJvm() {}

  /** Runs {@code probe} with a heap of {@code heap} (e.g. "128m"); returns its output. */
  public static String run(String heap, Class<?> probe, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(
        List.of(
            "-Xmx" + heap,
            "-Xms" + heap,
            "-XX:+AlwaysPreTouch",
            "-Dorg.bytedeco.javacpp.maxPhysicalBytes=0",
            "-Dorg.bytedeco.javacpp.nopointergc=true", // the engine must not rely on the collector
            "-XX:+UseSerialGC",
            "-cp",
            System.getProperty("java.class.path"),
            probe.getName()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("MALLOC_MMAP_THRESHOLD_", "1048576");
    pb.environment().put("MALLOC_ARENA_MAX", "2");
    pb.redirectErrorStream(true);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
    System.out.print(out);
    return out;
  }
}
