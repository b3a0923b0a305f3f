package org.zero4j.engine.config;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code zero4j config check FILE [--world-size N]}: validates a DeepSpeed config and prints it
 * resolved.
 *
 * <p>Exit codes: 0 valid and runnable; 1 invalid config or bad arguments (the error on {@code
 * err}); 2 valid DeepSpeed config that uses features this build does not support yet. "auto" values
 * are left for initialize: they are listed, and checked here with the stand-ins of {@link
 * AutoValues#CHECK_PLACEHOLDERS}.
 */
public final class ConfigCheckCommand {
  static final String USAGE = "usage: zero4j config check FILE [--world-size N]";

  private ConfigCheckCommand() {}

  /** Runs the check and returns the exit code. */
  public static int run(List<String> args, PrintStream out, PrintStream err) {
    String file = null;
    int worldSize = 1;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.equals("--world-size") && i + 1 < args.size()) {
        try {
          worldSize = Integer.parseInt(args.get(++i));
        } catch (NumberFormatException e) {
          err.println("--world-size expects a positive integer, got \"" + args.get(i) + "\"");
          err.println(USAGE);
          return 1;
        }
      } else if (a.startsWith("-") || file != null) {
        err.println("unexpected argument \"" + a + "\"");
        err.println(USAGE);
        return 1;
      } else {
        file = a;
      }
    }
    if (file == null || worldSize <= 0) {
      err.println(file == null ? "no config file given" : "--world-size must be > 0");
      err.println(USAGE);
      return 1;
    }
    EngineConfig cfg;
    try {
      cfg = EngineConfig.load(Path.of(file), worldSize, AutoValues.CHECK_PLACEHOLDERS);
    } catch (IllegalArgumentException | UncheckedIOException e) {
      err.println("invalid config: " + e.getMessage());
      return 1;
    }
    out.println("# " + file + " resolved for world size " + worldSize);
    out.println(cfg.toPrettyJson());
    if (!cfg.autoKeys().isEmpty()) {
      out.println("\"auto\" values left for initialize (checked here with stand-in values):");
      cfg.autoKeys().forEach(k -> out.println("  " + k));
    }
    if (!cfg.warnings().isEmpty()) {
      out.println("warnings:");
      cfg.warnings().forEach(w -> out.println("  " + w));
    }
    if (!cfg.unsupportedFeatures().isEmpty()) {
      err.println("the config is valid DeepSpeed, but this build of zero4j cannot run it yet:");
      cfg.unsupportedFeatures().forEach(u -> err.println("  " + u));
      return 2;
    }
    out.println("OK: valid and supported");
    return 0;
  }
}
