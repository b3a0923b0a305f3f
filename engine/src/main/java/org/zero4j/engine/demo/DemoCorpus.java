package org.zero4j.engine.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The demo's training text: about 52 KB of public-domain English (King James Bible excerpts, the
 * Declaration of Independence, parts of the US Constitution, Lincoln, Shakespeare), shipped as the
 * class-path resource {@code org/zero4j/engine/demo/corpus.txt}; its {@code README.md} lists the
 * sources.
 */
public final class DemoCorpus {
  private static final String RESOURCE = "corpus.txt";

  private DemoCorpus() {}

  /** The whole corpus as one string (ASCII, lines separated by {@code \n}). */
  public static String text() {
    try (InputStream in = DemoCorpus.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(
            "resource org/zero4j/engine/demo/" + RESOURCE + " is missing from the class path");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the demo corpus", e);
    }
  }
}
