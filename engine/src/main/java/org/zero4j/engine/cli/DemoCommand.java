package org.zero4j.engine.cli;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.zero4j.engine.checkpoint.CheckpointDir;
import org.zero4j.engine.checkpoint.CheckpointManifest;
import org.zero4j.engine.config.EngineConfig;
import org.zero4j.engine.demo.DemoTraining;
import org.zero4j.engine.launch.LaunchOptions;
import org.zero4j.engine.launch.Launcher;

/**
 * {@code zero4j demo [--config FILE] [--nproc N] [--steps S] [--save-dir D] [--resume D]}: trains
 * the demo GPT on N local ranks (default 2) through the launcher. {@code --resume D} continues from
 * the latest checkpoint in D for S more steps; {@code --save-dir D} saves one at the end.
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
    Path saveDir = null;
    Path resume = null;
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
        case "--save-dir" -> saveDir = Path.of(value(args, ++i, a)).toAbsolutePath();
        case "--resume" -> resume = Path.of(value(args, ++i, a)).toAbsolutePath();
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
    if (resume != null) {
      // Fail once here, naming the missing or corrupt file, rather than once per rank.
      CheckpointManifest.read(CheckpointDir.resolve(resume, null));
      rankArgs.addAll(List.of("--resume", resume.toString()));
    }
    if (saveDir != null) {
      rankArgs.addAll(List.of("--save-dir", saveDir.toString()));
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
