package org.zero4j.engine.cli;

import java.io.PrintStream;
import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.CpuAdam;

/**
 * {@code zero4j report}: what this build can run on this machine: the JVM, libtorch's threads,
 * which CPU Adam kernel variants were compiled and which one is chosen, and the GPU path.
 */
final class ReportCommand implements Subcommand {

  private final PrintStream out;

  ReportCommand(PrintStream out) {
    this.out = out;
  }

  @Override
  public int run(List<String> args) {
    if (!args.isEmpty()) {
      throw new IllegalArgumentException("report takes no arguments");
    }
    Runtime rt = Runtime.getRuntime();
    out.printf(
        "java: %s (%s), %s %s%n",
        System.getProperty("java.version"),
        System.getProperty("java.vendor"),
        System.getProperty("os.name"),
        System.getProperty("os.arch"));
    out.printf(
        "cpu: %d cores visible; libtorch intra-op threads: %d%n",
        rt.availableProcessors(), torch.get_num_threads());
    out.println("collectives: c10d Gloo (TCPStore rendezvous)");
    out.println(CpuAdam.report());
    out.println(
        "cuda adam kernel: not built (this build is CPU-only; no PTX is bundled, NCCL is not used)");
    return 0;
  }
}
