package org.zero4j.engine.launch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.Charset;

/** Copies one stream of a rank to the launcher's stream, a prefixed line at a time. */
final class OutputPump {

  private final Thread thread;

  /**
   * Starts a daemon thread copying {@code from} to {@code to}. Each line is written with one {@code
   * println}, so lines of different ranks never interleave within a line.
   */
  OutputPump(InputStream from, PrintStream to, String prefix, String name) {
    thread =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(new InputStreamReader(from, Charset.defaultCharset()))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                  to.println(prefix + line);
                }
              } catch (IOException e) {
                // Note [pump close]: the pipe breaks when a killed rank's stream goes away; its
                // output up to that point has been copied and nothing more will come.
              }
              to.flush();
            },
            name);
    thread.setDaemon(true);
    thread.start();
  }

  /** Waits up to {@code millis} for the stream to end (a descendant may hold it open longer). */
  void join(long millis) throws InterruptedException {
    thread.join(Math.max(1, millis));
  }
}
