package org.zero4j.benchmarks;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.swap.AsyncSwapper;
import org.zero4j.offload.swap.FreeSpaceProbe;
import org.zero4j.offload.swap.SwapBuffer;
import org.zero4j.offload.swap.SwapBufferPool;
import org.zero4j.offload.swap.SwapDirectory;
import org.zero4j.offload.swap.SwapFile;
import org.zero4j.offload.swap.SwapOp;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.OptimizerOffload;
import org.zero4j.zero.Precision;
import org.zero4j.zero.ZeroOptimizer;
import org.zero4j.zero.comm.LocalRanks;

/**
 * NVMe offload against the disk, in one run on one filesystem.
 *
 * <ol>
 *   <li>Swap throughput: {@link AsyncSwapper} writing (then {@code fdatasync}) and reading (page
 *       cache dropped first) a file of {@code --mib} MiB through 16 MiB buffers, against {@code dd
 *       oflag=direct conv=fdatasync} and {@code dd iflag=direct} on the same directory. Best of
 *       {@code --rounds}, each round running dd, the swapper (with {@code O_DIRECT} where the
 *       filesystem takes it), then the swapper on a file opened without {@code O_DIRECT}.
 *   <li>The same through a memory mapping ({@code MappedByteBuffer} writes and {@code force}, i.e.
 *       {@code msync}; reads after dropping the cache), the alternative the swapper does not take.
 *   <li>Optimizer step: a ZeRO stage-1 step of {@code --params} fp32 parameters with the state on
 *       NVMe, against the disk roofline: 12 bytes of state per parameter read plus 12 written, at
 *       dd's read and write bandwidth. "cold" drops the swap file's pages before the step; "warm"
 *       leaves the page cache as the previous step left it. The in-memory step is shown too: a
 *       perfectly pipelined step takes the longer of it and the roofline ("bound").
 * </ol>
 *
 * <p>Run: {@code bin/zero4j bench offload [--dir /path/on/nvme] [--mib 1024] [--rounds 3] [--params
 * 32000000] [--threads 2] [--qd 8] [--block 1048576]}
 */
public final class OffloadBench {

  private static final int BUFFER_MIB = 16;

  private OffloadBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(arg(args, "--dir", System.getProperty("java.io.tmpdir")));
    int mib = Integer.parseInt(arg(args, "--mib", "1024"));
    int rounds = Integer.parseInt(arg(args, "--rounds", "3"));
    long params = (long) Double.parseDouble(arg(args, "--params", "32000000"));
    AioConfig aio =
        new AioConfig(
            Integer.parseInt(arg(args, "--block", "1048576")),
            Integer.parseInt(arg(args, "--qd", "8")),
            Integer.parseInt(arg(args, "--threads", "2")),
            false,
            true,
            false);
    System.out.printf(
        Locale.ROOT,
        "dir %s, %d MiB, aio block %d queue_depth %d intra_op_parallelism %d%n",
        dir,
        mib,
        aio.blockSize(),
        aio.queueDepth(),
        aio.intraOpParallelism());
    double[][] runs = throughput(dir, mib, rounds, aio);
    double[] disk = new double[runs.length];
    for (int k = 0; k < runs.length; k++) {
      disk[k] = Arrays.stream(runs[k]).max().orElseThrow();
    }
    System.out.printf(Locale.ROOT, "best of %d rounds:%n", rounds);
    String row = "%-6s %12.0f %12.0f %8.2f %15.0f %8.2f%n";
    System.out.printf(
        Locale.ROOT,
        "%-6s %12s %12s %8s %15s %8s%n",
        "",
        "dd MB/s",
        "swapper MB/s",
        "ratio",
        "buffered MB/s",
        "ratio");
    System.out.printf(
        Locale.ROOT,
        row,
        "write",
        disk[0] / 1e6,
        disk[1] / 1e6,
        disk[1] / disk[0],
        disk[6] / 1e6,
        disk[6] / disk[0]);
    System.out.printf(
        Locale.ROOT,
        row,
        "read",
        disk[2] / 1e6,
        disk[3] / 1e6,
        disk[3] / disk[2],
        disk[7] / 1e6,
        disk[7] / disk[2]);
    System.out.printf(
        Locale.ROOT,
        "paired (same round) ratio to dd, median of %d rounds: write %.2f (buffered %.2f),"
            + " read %.2f (buffered %.2f)%n",
        rounds,
        pairedMedian(runs[1], runs[0]),
        pairedMedian(runs[6], runs[0]),
        pairedMedian(runs[3], runs[2]),
        pairedMedian(runs[7], runs[2]));
    System.out.printf(
        Locale.ROOT,
        "mmap   write %.0f MB/s (%.2f of dd), read %.0f MB/s (%.2f of dd)%n",
        disk[4] / 1e6,
        disk[4] / disk[0],
        disk[5] / 1e6,
        disk[5] / disk[2]);
    step(dir, params, aio, disk[0], disk[2]);
  }

  private static String arg(String[] args, String name, String dflt) {
    int i = Arrays.asList(args).indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  }

  // Note [paired ratios]: the disk of a shared VM changes speed from one second to the next, so a
  // swapper figure is compared with the dd run just before it in the same round; the median over
  // rounds of those ratios is steadier than the ratio of two bests taken at different moments.
  private static double pairedMedian(double[] x, double[] baseline) {
    double[] r = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      r[i] = x[i] / baseline[i];
    }
    Arrays.sort(r);
    return r.length % 2 == 1 ? r[r.length / 2] : (r[r.length / 2 - 1] + r[r.length / 2]) / 2;
  }

  /**
   * Per round, in bytes/s: {dd write, swapper write, dd read, swapper read, mmap write, mmap read,
   * buffered swapper write, buffered swapper read}.
   */
  private static double[][] throughput(Path dirPath, int mib, int rounds, AioConfig aio)
      throws Exception {
    long bytes = (long) mib << 20;
    SwapDirectory dir =
        SwapDirectory.open("--dir", dirPath.toString(), 3 * bytes, FreeSpaceProbe.FILESYSTEM);
    Path ddFile = dirPath.resolve("zero4j-bench-dd.bin");
    double[][] runs = new double[8][rounds];
    try (SwapFile file = SwapFile.create(dir, "bench", 0, bytes);
        SwapFile buffered = SwapFile.create(dir, "bench-buffered", 0, bytes, false);
        AsyncSwapper swapper = new AsyncSwapper(aio);
        SwapBufferPool pool = new SwapBufferPool("bench", 4, BUFFER_MIB << 18)) {
      List<SwapBuffer> bufs = new ArrayList<>();
      for (int i = 0; i < pool.count(); i++) {
        bufs.add(pool.acquire());
      }
      for (SwapBuffer b : bufs) {
        try (Tensor t = b.floats(b.capacity())) {
          t.uniform_();
        }
      }
      System.out.printf(
          Locale.ROOT,
          "swap file O_DIRECT: %s (filesystem block %d)%n",
          file.direct(),
          Files.getFileStore(dirPath).getBlockSize());
      for (int r = 0; r < rounds; r++) {
        runs[0][r] = DiskBaseline.writeBytesPerSecond(ddFile, mib);
        runs[1][r] = swap(swapper, file, bufs, bytes, true);
        runs[6][r] = swap(swapper, buffered, bufs, bytes, true);
        DiskBaseline.dropCache(file.path());
        DiskBaseline.dropCache(buffered.path());
        runs[2][r] = DiskBaseline.readBytesPerSecond(ddFile, mib);
        runs[3][r] = swap(swapper, file, bufs, bytes, false);
        runs[7][r] = swap(swapper, buffered, bufs, bytes, false);
      }
      // After the swapper's rounds: a live mapping pins its pages, so the cache cannot be dropped
      // under it; each mapping is collected before the next cache drop.
      for (int r = 0; r < rounds; r++) {
        runs[4][r] = mapped(file.path(), bufs, bytes, true);
        unmap();
        DiskBaseline.dropCache(file.path());
        runs[5][r] = mapped(file.path(), bufs, bytes, false);
        unmap();
      }
      bufs.forEach(pool::release);
    } finally {
      Files.deleteIfExists(ddFile);
    }
    return runs;
  }

  private static double swap(
      AsyncSwapper swapper, SwapFile file, List<SwapBuffer> bufs, long bytes, boolean write) {
    long chunk = (long) BUFFER_MIB << 20;
    long t0 = System.nanoTime();
    List<SwapOp> inFlight = new ArrayList<>();
    int i = 0;
    for (long pos = 0; pos < bytes; pos += chunk, i++) {
      if (inFlight.size() == bufs.size()) {
        inFlight.remove(0).await();
      }
      var b = bufs.get(i % bufs.size()).bytes(Math.min(chunk, bytes - pos) / Float.BYTES);
      inFlight.add(write ? swapper.write(file, pos, b) : swapper.read(file, pos, b));
    }
    inFlight.forEach(SwapOp::await);
    if (write) {
      file.flush();
    }
    return bytes / ((System.nanoTime() - t0) / 1e9);
  }

  // The alternative to positional I/O: the file mapped, written through the mapping and msync'ed
  // (MappedByteBuffer.force), or read through it after the page cache was dropped.
  private static double mapped(Path path, List<SwapBuffer> bufs, long bytes, boolean write)
      throws IOException {
    long chunk = (long) BUFFER_MIB << 20;
    long t0 = System.nanoTime();
    try (FileChannel ch =
        FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      MappedByteBuffer map =
          ch.map(write ? FileChannel.MapMode.READ_WRITE : FileChannel.MapMode.READ_ONLY, 0, bytes);
      int i = 0;
      for (long pos = 0; pos < bytes; pos += chunk, i++) {
        var b = bufs.get(i % bufs.size()).bytes(Math.min(chunk, bytes - pos) / Float.BYTES);
        var region = map.duplicate();
        region.position((int) pos).limit((int) (pos + b.remaining()));
        if (write) {
          region.put(b);
        } else {
          b.put(region);
        }
      }
      if (write) {
        map.force();
      }
    }
    return bytes / ((System.nanoTime() - t0) / 1e9);
  }

  // Java 17 unmaps a MappedByteBuffer only when it is collected.
  private static void unmap() throws InterruptedException {
    System.gc();
    Thread.sleep(200);
  }

  private static void step(Path dir, long n, AioConfig aio, double writeBw, double readBw) {
    double roofline = 12.0 * n / readBw + 12.0 * n / writeBw;
    OffloadOptimizerConfig cfg =
        new OffloadOptimizerConfig(
            OffloadDevice.NVME, dir.toString(), true, 9, true, true, false, 1.0, false, 0.8);
    OptimizerOffload nvme = new OptimizerOffload(cfg, aio, 4L << 20, FreeSpaceProbe.FILESYSTEM);
    double[] mem = stepTimes(dir, n, OptimizerOffload.NONE, false);
    double[] cold = stepTimes(dir, n, nvme, true);
    double[] warm = stepTimes(dir, n, nvme, false);
    System.out.printf(
        Locale.ROOT,
        "optimizer step, %d fp32 params (%.0f MB of state), sub_group_size 4194304,"
            + " buffer_count 9, pipelined%n",
        n,
        12.0 * n / 1e6);
    System.out.printf(
        Locale.ROOT,
        "  disk roofline (state read + written at dd speed): %.0f ms%n",
        roofline * 1e3);
    System.out.printf(Locale.ROOT, "  in memory:  %.0f ms%n", mem[0] * 1e3);
    // A perfectly pipelined step takes the longer of the update and the disk traffic.
    double bound = Math.max(roofline, mem[0]);
    System.out.printf(
        Locale.ROOT, "  pipelined bound max(roofline, in memory): %.0f ms%n", bound * 1e3);
    System.out.printf(
        Locale.ROOT,
        "  nvme cold:  %.0f ms  roofline/step %.2f  bound/step %.2f%n",
        cold[0] * 1e3,
        roofline / cold[0],
        bound / cold[0]);
    System.out.printf(
        Locale.ROOT,
        "  nvme warm:  %.0f ms  roofline/step %.2f  bound/step %.2f%n",
        warm[0] * 1e3,
        roofline / warm[0],
        bound / warm[0]);
  }

  /** Best step time in seconds over 3 steps after one warm-up. */
  private static double[] stepTimes(Path dir, long n, OptimizerOffload offload, boolean cold) {
    return LocalRanks.run(
            1,
            Duration.ofMinutes(10),
            comm -> {
              torch.set_num_threads(1);
              List<NamedParameter> params = new ArrayList<>();
              Tensor p = torch.randn(n);
              p.requires_grad_(true);
              params.add(new NamedParameter("w", p));
              ZeroOptimizer.Options o =
                  new ZeroOptimizer.Options(
                      1,
                      Precision.FP32,
                      Precision.FP32,
                      1L << 30,
                      1L << 24,
                      false,
                      true,
                      true,
                      true);
              AdamHyperparams hp = new AdamHyperparams(1e-3, 0.9, 0.999, 1e-8, 0.01, true, true);
              double best = Double.MAX_VALUE;
              try (ZeroOptimizer zero =
                      new ZeroOptimizer(params, o, comm, new CpuAdam(2), offload);
                  Tensor c = torch.randn(n)) {
                for (int s = 1; s <= 4; s++) {
                  zero.beforeBackward();
                  try (Tensor prod = p.mul(c);
                      Tensor loss = prod.sum()) {
                    loss.backward();
                  }
                  zero.afterBackward();
                  if (cold) {
                    dropSwapCaches(dir);
                  }
                  long t0 = System.nanoTime();
                  zero.step(hp, s, 1.0, 0.0);
                  double secs = (System.nanoTime() - t0) / 1e9;
                  if (s > 1) {
                    best = Math.min(best, secs);
                  }
                }
              }
              return new double[] {best};
            })
        .get(0);
  }

  private static void dropSwapCaches(Path dir) {
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "zero4j-*.swap")) {
      for (Path f : files) {
        DiskBaseline.dropCache(f);
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
