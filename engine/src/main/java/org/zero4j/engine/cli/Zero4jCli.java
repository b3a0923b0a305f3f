package org.zero4j.engine.cli;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.zero4j.engine.config.ConfigCheckCommand;
import org.zero4j.engine.launch.LaunchOptions;
import org.zero4j.engine.launch.Launcher;

/**
 * The {@code zero4j} command line: a table of subcommands, each a name (one or more words) with a
 * one-line summary and a {@link Subcommand}.
 *
 * <p>Only {@link #main} calls {@code System.exit}; {@link #run} returns the exit code.
 */
public final class Zero4jCli {

  /** Exit code for a command line that cannot be understood. */
  public static final int USAGE_ERROR = 2;

  private record Entry(String summary, Subcommand handler) {}

  private final Map<String, Entry> commands = new LinkedHashMap<>();
  private final PrintStream out;
  private final PrintStream err;

  /** A CLI writing to {@code out} and {@code err}, with every built-in subcommand registered. */
  public Zero4jCli(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
    register(
        "launch",
        "start N local JVM ranks of a main class (see 'zero4j launch --help')",
        this::launch);
    register(
        "config check",
        "FILE [--world-size N]: validate a DeepSpeed JSON config and print it resolved",
        args -> ConfigCheckCommand.run(args, out, err));
    register(
        "demo",
        "train the demo GPT on N local ranks from a DeepSpeed config (default: 2 ranks, ZeRO-2)",
        new DemoCommand(out, err));
    register(
        "to-fp32",
        "CKPT_DIR OUT.safetensors [--tag T]: consolidate a checkpoint's fp32 weights, streaming",
        new ToFp32Command(out));
    register(
        "report",
        "show which kernels this build has and which one this machine uses",
        new ReportCommand(out));
    register("help", "print this list", args -> usage(out, 0));
  }

  public static void main(String[] args) {
    System.exit(new Zero4jCli(System.out, System.err).run(List.of(args)));
  }

  /**
   * Adds a subcommand. {@code name} may have several words ({@code "config check"}); the longest
   * registered name that prefixes the arguments wins.
   */
  public void register(String name, String summary, Subcommand handler) {
    if (commands.putIfAbsent(name, new Entry(summary, handler)) != null) {
      throw new IllegalStateException("subcommand '" + name + "' is registered twice");
    }
  }

  /** Dispatches {@code args} to its subcommand and returns the exit code. */
  public int run(List<String> args) {
    if (args.isEmpty() || args.get(0).equals("--help") || args.get(0).equals("-h")) {
      return usage(args.isEmpty() ? err : out, args.isEmpty() ? USAGE_ERROR : 0);
    }
    String best = null;
    for (String name : commands.keySet()) {
      List<String> words = List.of(name.split(" "));
      boolean prefix = words.size() <= args.size() && args.subList(0, words.size()).equals(words);
      if (prefix && (best == null || words.size() > best.split(" ").length)) {
        best = name;
      }
    }
    if (best == null) {
      err.println("zero4j: unknown subcommand '" + String.join(" ", args) + "'");
      return usage(err, USAGE_ERROR);
    }
    List<String> rest = args.subList(best.split(" ").length, args.size());
    try {
      return commands.get(best).handler().run(rest);
    } catch (IllegalArgumentException e) {
      err.println("zero4j " + best + ": " + e.getMessage());
      return USAGE_ERROR;
    }
  }

  private int usage(PrintStream to, int code) {
    to.println("usage: zero4j SUBCOMMAND [ARGS...]");
    to.println("subcommands:");
    int width = commands.keySet().stream().mapToInt(String::length).max().orElse(0);
    commands.forEach(
        (name, entry) ->
            to.println("  " + name + " ".repeat(width - name.length() + 2) + entry.summary()));
    to.println(
        "  bench"
            + " ".repeat(Math.max(2, width - 3))
            + "step|adam|comm|offload|ckpt: benchmarks with their baselines (bin/zero4j runs the benchmarks module)");
    return code;
  }

  private int launch(List<String> args) {
    if (!args.isEmpty() && (args.get(0).equals("--help") || args.get(0).equals("-h"))) {
      out.println(LaunchOptions.USAGE);
      return 0;
    }
    LaunchOptions options = LaunchOptions.parse(args, System.getenv());
    return new Launcher(options).run(out, err);
  }
}
