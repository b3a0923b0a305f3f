package org.zero4j.engine.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Launcher acceptance: a rank whose peer process dies gets a clear error within the timeout. */
class PeerDeathTest {

  @TempDir Path dir;

  @Test
  void survivorRaisesAClearErrorWithinTheTimeout() throws Exception {
    int timeoutSeconds = 20;
    LaunchOptions options =
        new LaunchOptions(
            2,
            1,
            0,
            "127.0.0.1",
            0,
            1,
            List.of("-Xmx512m", "-XX:+UseSerialGC"),
            PeerDeathProbe.class.getName(),
            List.of(dir.toString(), Integer.toString(timeoutSeconds)));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    int code;
    try (PrintStream sink = new PrintStream(bytes, true, Charset.defaultCharset())) {
      code = new Launcher(options).run(sink, sink);
    }
    String log = bytes.toString(Charset.defaultCharset());
    assertEquals(0, code, log);
    String[] result = Files.readString(dir.resolve("result")).split("\n", 2);
    assertTrue(result.length == 2, "rank 0 saw no error: " + String.join(" ", result));
    long millis = Long.parseLong(result[0]);
    assertTrue(millis < timeoutSeconds * 1000L, "took " + millis + " ms");
    assertTrue(result[1].contains("all-reduce"), result[1]);
    assertTrue(result[1].contains("peer rank probably died"), result[1]);
  }
}
