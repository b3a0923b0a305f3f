package org.zero4j.benchmarks;

import java.util.Arrays;

/**
 * {@code zero4j bench NAME [ARGS...]}: runs one benchmark, with its baseline in the same run.
 *
 * <ul>
 *   <li>{@code step}: {@link StepBench}, step time of ZeRO stages 1 and 2 against stage 0 and bytes
 *       per step against 2Ψ, on 2 Gloo ranks.
 *   <li>{@code adam}: {@link AdamBenchReport}, the fused CPU Adam kernel against libtorch's Adam
 *       and the memory-bandwidth roofline.
 *   <li>{@code comm}: {@link CollectivesBench}, Gloo all-reduce against reduce-scatter +
 *       all-gather.
 *   <li>{@code offload}: {@link OffloadBench}, swap I/O against {@code dd} with {@code O_DIRECT}
 *       and the NVMe-offloaded optimizer step against the disk roofline.
 *   <li>{@code infinity}: {@link InfinityBench}, one stage-3 training step of a model whose state
 *       exceeds RAM, parameters and optimizer state on NVMe.
 *   <li>{@code ckpt}: {@link CheckpointBench}, checkpoint save and load against the disk's
 *       sequential bandwidth, and the peak RSS of {@code to-fp32}.
 * </ul>
 */
public final class BenchMain {

  private BenchMain() {}

  public static void main(String[] args) throws Exception {
    String name = args.length == 0 ? "" : args[0];
    String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
    switch (name) {
      case "step" -> StepBench.main(rest);
      case "adam" -> AdamBenchReport.run(rest);
      case "comm" -> CollectivesBench.main(rest);
      case "offload" -> OffloadBench.main(rest);
      case "infinity" -> InfinityBench.main(rest);
      case "ckpt" -> CheckpointBench.main(rest);
      default -> {
        System.err.println("usage: zero4j bench step|adam|comm|offload|infinity|ckpt [ARGS...]");
        System.err.println("  step [--world 2] [--rounds 5] [--steps 6] [--layers 4] [--embd 128]");
        System.err.println("       [--precision fp32|bf16] [--overlap true|false] [--bucket 5e5]");
        System.err.println("       [--stages 0,1,2,3]   (stage 0 always runs, as the baseline)");
        System.err.println("  adam [--short]   fused CPU Adam vs libtorch Adam and the roofline");
        System.err.println(
            "  comm [--sizes N,N,...]   Gloo all-reduce vs reduce-scatter + all-gather");
        System.err.println(
            "  offload [--dir D] [--mib 1024] [--params 3.2e7]   swap I/O vs dd O_DIRECT, NVMe"
                + " step vs the disk roofline");
        System.err.println(
            "  infinity [--params 2.2e9] [--hidden 8192] [--ranks 1] [--dir D]   one stage-3"
                + " step with param and optimizer state on NVMe");
        System.err.println(
            "  ckpt [--gb 2.2] [--rounds 3] [--dir D]   checkpoint save/load vs disk bandwidth, to-fp32 RSS");
        System.exit(name.isEmpty() || name.equals("--help") ? 0 : 2);
      }
    }
  }
}
