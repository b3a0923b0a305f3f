package org.zero4j.offload.swap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Up-front validation of nvme_path and the sweep of swap files left by killed runs. */
class SwapDirectoryTest {

  private static final String KEY = "zero_optimization.offload_optimizer.nvme_path";

  @TempDir Path dir;

  private static String error(String path, long needed, FreeSpaceProbe probe) {
    return assertThrows(
            IllegalArgumentException.class, () -> SwapDirectory.open(KEY, path, needed, probe))
        .getMessage();
  }

  @Test
  void missingPathNotADirectoryAndUnwritableAreNamed() throws Exception {
    Path missing = dir.resolve("nope");
    assertEquals(
        KEY
            + " "
            + missing
            + " does not exist; create the directory or point "
            + KEY
            + " elsewhere",
        error(missing.toString(), 1, FreeSpaceProbe.FILESYSTEM));
    Path file = Files.writeString(dir.resolve("f"), "x");
    assertTrue(
        error(file.toString(), 1, FreeSpaceProbe.FILESYSTEM)
            .contains(file + " is not a directory"));
    // procfs refuses new files even to root, for whom file modes do not apply
    String m = error("/proc/self", 1, FreeSpaceProbe.FILESYSTEM);
    assertTrue(m.startsWith(KEY + " /proc/self is not writable"), m);
    assertTrue(error(null, 1, FreeSpaceProbe.FILESYSTEM).contains("is required"));
  }

  @Test
  void tooLittleSpaceNamesBytesNeededAndFree() {
    String m = error(dir.toString(), 3_000_000_000L, d -> 1_000_000_000L);
    assertEquals(
        KEY
            + " "
            + dir
            + " has 1000000000 bytes free but the swap files need 3000000000 bytes;"
            + " free 2000000000 bytes there, or use a larger disk",
        m);
    SwapDirectory.open(KEY, dir.toString(), 1_000_000_000L, d -> 1_000_000_000L);
  }

  @Test
  void swapFileOfAKilledRunIsRemovedAndALiveOneIsKept() throws Exception {
    Process child =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                SwapFileHolder.class.getName(),
                dir.toString())
            .redirectErrorStream(true)
            .start();
    Path held;
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      held = Path.of(out.readLine());
    } catch (RuntimeException e) {
      child.destroyForcibly();
      throw e;
    }
    SwapDirectory d = SwapDirectory.open(KEY, dir.toString(), 0, FreeSpaceProbe.FILESYSTEM);
    try (SwapFile mine = SwapFile.create(d, "live", 1, 100)) {
      assertEquals(List.of(), d.removeStale(), "a running process's file is not stale");
      assertTrue(Files.exists(held));
      child.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook runs
      assertTrue(Files.exists(held), "a killed run leaves its swap file");
      SwapDirectory again = SwapDirectory.open(KEY, dir.toString(), 0, FreeSpaceProbe.FILESYSTEM);
      assertFalse(Files.exists(held), "initialize removes the stale file");
      assertTrue(Files.exists(mine.path()), "this process's live file is kept");
      assertEquals(List.of(), again.removeStale());
    } finally {
      child.destroyForcibly();
    }
    try (var left = Files.list(dir)) {
      assertEquals(List.of(), left.toList());
    }
  }

  @Test
  void namesKeepRanksAndEnginesApart() {
    SwapDirectory d = SwapDirectory.open(KEY, dir.toString(), 0, FreeSpaceProbe.FILESYSTEM);
    try (SwapFile a = SwapFile.create(d, "optim", 0, 8);
        SwapFile b = SwapFile.create(d, "optim", 0, 8);
        SwapFile c = SwapFile.create(d, "optim", 1, 8)) {
      String pid = "-p" + ProcessHandle.current().pid() + "-";
      assertTrue(a.path().getFileName().toString().contains(pid + "r0-"), a.path().toString());
      assertTrue(c.path().getFileName().toString().contains(pid + "r1-"), c.path().toString());
      assertFalse(a.path().equals(b.path()));
    }
  }
}
