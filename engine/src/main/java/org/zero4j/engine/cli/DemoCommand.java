package org.zero4j.engine.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.zero4j.engine.config.EngineConfig;
import org.zero4j.engine.demo.DemoTraining;
import org.zero4j.engine.launch.LaunchOptions;
import org.zero4j.engine.launch.Launcher;

/**
 * {@code zero4j demo [--config FILE] [--nproc N] [--steps S] [--save-dir D] [--resume D]}: trains
 * the demo GPT on N local ranks (default 2) through the launcher.
 */
final class DemoCommand implements Subcommand {

  static final String USAGE =
      "usage: zero4j demo [--config FILE] [--nproc N] [--steps S] [--save-dir D] [--resume D]";

  private final PrintStream out;
  private final PrintStream err;

  DemoCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  @Override
  public int run(List<String> args) {
    String config = null;
    int nproc = 2;
    int steps = 200;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      switch (a) {
        case "--help", "-h" -> {
          out.println(USAGE);
          return 0;
        }
        case "--config" -> config = value(args, ++i, a);
        case "--nproc" -> nproc = positive(value(args, ++i, a), a);
        case "--steps" -> steps = positive(value(args, ++i, a), a);
        case "--save-dir", "--resume" ->
            throw new IllegalArgumentException(
                a
                    + " is not supported yet: checkpointing arrives with the checkpoint issue;"
                    + " run the demo without it");
        default -> throw new IllegalArgumentException("unknown argument '" + a + "'\n" + USAGE);
      }
    }
    List<String> rankArgs = new ArrayList<>(List.of("--steps", Integer.toString(steps)));
    if (config != null) {
      Path file = Path.of(config).toAbsolutePath();
      if (!Files.isReadable(file)) {
        throw new IllegalArgumentException("--config " + file + " does not exist or is unreadable");
      }
      // Fail once here, with the config's own message, rather than once per rank.
      EngineConfig.load(file, nproc, DemoTraining.autos(steps));
      rankArgs.addAll(List.of("--config", file.toString()));
    }
    List<String> launch = new ArrayList<>(List.of("--nproc", Integer.toString(nproc), "--"));
    launch.add(DemoTraining.class.getName());
    launch.addAll(rankArgs);
    return new Launcher(LaunchOptions.parse(launch, System.getenv())).run(out, err);
  }

  private static String value(List<String> args, int i, String flag) {
    if (i >= args.size()) {
      throw new IllegalArgumentException(flag + " needs a value\n" + USAGE);
    }
    return args.get(i);
  }

  private static int positive(String v, String flag) {
    try {
      int n = Integer.parseInt(v);
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException(flag + " must be a positive integer, got '" + v + "'");
  }
}
