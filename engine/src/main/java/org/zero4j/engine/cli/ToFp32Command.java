package org.zero4j.engine.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.zero4j.engine.checkpoint.Fp32Export;

/**
 * {@code zero4j to-fp32 CKPT_DIR OUT.safetensors [--tag T]}: writes a checkpoint's consolidated
 * fp32 weights as one safetensors file, streaming (see {@link Fp32Export}).
 */
final class ToFp32Command implements Subcommand {

  static final String USAGE = "usage: zero4j to-fp32 CKPT_DIR OUT.safetensors [--tag T]";

  private final PrintStream out;

  ToFp32Command(PrintStream out) {
    this.out = out;
  }

  @Override
  public int run(List<String> args) {
    String tag = null;
    List<String> positional = new ArrayList<>();
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      switch (a) {
        case "--help", "-h" -> {
          out.println(USAGE);
          return 0;
        }
        case "--tag" -> {
          if (++i >= args.size()) {
            throw new IllegalArgumentException("--tag needs a value\n" + USAGE);
          }
          tag = args.get(i);
        }
        default -> {
          if (a.startsWith("--")) {
            throw new IllegalArgumentException("unknown option '" + a + "'\n" + USAGE);
          }
          positional.add(a);
        }
      }
    }
    if (positional.size() != 2) {
      throw new IllegalArgumentException(
          "expected a checkpoint directory and an output file, got " + positional + "\n" + USAGE);
    }
    long t0 = System.nanoTime();
    Fp32Export.Result r =
        Fp32Export.export(Path.of(positional.get(0)), tag, Path.of(positional.get(1)));
    out.printf(
        Locale.ROOT,
        "to-fp32: wrote %d parameters (%d elements, %d bytes) of tag %s to %s in %.2f s%n",
        r.parameters(),
        r.elements(),
        r.bytes(),
        r.tag(),
        r.file(),
        (System.nanoTime() - t0) / 1e9);
    PeakRss.bytes().ifPresent(b -> out.printf(Locale.ROOT, "to-fp32: peak RSS %d bytes%n", b));
    return 0;
  }
}
