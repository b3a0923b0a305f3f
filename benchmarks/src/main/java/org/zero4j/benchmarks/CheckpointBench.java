package org.zero4j.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.engine.checkpoint.CheckpointDir;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Checkpoint save and load speed as a fraction of the disk's sequential bandwidth measured in the
 * same run, and the peak RSS of {@code zero4j to-fp32} on the same checkpoint (issue target: under
 * 25% of the checkpoint's size).
 *
 * <p>Baselines, measured in every round right before the checkpoint operation: one new file of the
 * checkpoint's size written sequentially through an 8 MiB direct buffer and fsynced, and the same
 * number of bytes as a load reads (the optimizer files) read back the same way. Before every read
 * (baseline, load, to-fp32) the files are evicted from the page cache with {@code dd iflag=nocache
 * count=0} (posix_fadvise DONTNEED), so reads come from the disk, not from memory.
 *
 * <p>The checkpoint: a stage-0 fp32 engine on 1 rank whose model has {@code --gb} / 16 parameters
 * (fp32 weights 4 bytes, optimizer fragments 12 bytes per parameter) after one training step.
 *
 * <p>Run: {@code bin/zero4j bench ckpt [--gb 2.2] [--rounds 3] [--dir /tmp]}
 */
public final class CheckpointBench {

  private static final int BUFFER = 8 << 20;

  private CheckpointBench() {}

  public static void main(String[] args) throws Exception {
    double gb = 2.2;
    int rounds = 3;
    Path base = Path.of(System.getProperty("java.io.tmpdir"));
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--gb" -> gb = Double.parseDouble(args[i + 1]);
        case "--dir" -> base = Path.of(args[i + 1]);
        case "--rounds" -> rounds = Math.max(1, Integer.parseInt(args[i + 1]));
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Path work = Files.createTempDirectory(base, "zero4j-ckpt-bench");
    try {
      run(work, (long) (gb * 1e9 / 16), rounds);
    } finally {
      deleteTree(work);
    }
  }

  private static void run(Path work, long params, int rounds) throws Exception {
    torch.set_num_threads(2);
    Path dir = work.resolve("ckpt");
    System.out.println("round  write GB/s  save GB/s  save/write  read GB/s  load GB/s  load/read");
    double[][] ratios =
        LocalRanks.run(1, Duration.ofMinutes(30), comm -> rounds(comm, work, dir, params, rounds))
            .get(0);
    Path tagDir = dir.resolve(CheckpointDir.latest(dir));
    long ckptBytes = sizeOf(tagDir);
    long optimBytes = ckptBytes - Files.size(tagDir.resolve(CheckpointDir.MODEL_FILE));
    evict(tagDir);
    long t0 = System.nanoTime();
    long rss = toFp32(dir, work.resolve("out.safetensors"));
    double exportSeconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf(
        Locale.ROOT,
        "checkpoint: %d parameters, %.2f GB on disk (%.2f GB optimizer fragments, which a load"
            + " reads)%n",
        params,
        ckptBytes / 1e9,
        optimBytes / 1e9);
    System.out.printf(
        Locale.ROOT,
        "median over %d rounds: save = %.0f%% of sequential write, load = %.0f%% of sequential"
            + " read%n",
        rounds,
        100 * median(ratios[0]),
        100 * median(ratios[1]));
    System.out.printf(
        Locale.ROOT,
        "to-fp32 (child JVM): %.2f s, peak RSS %.1f MB = %.1f%% of the checkpoint (target < 25%%: %s)%n",
        exportSeconds,
        rss / 1e6,
        100.0 * rss / ckptBytes,
        rss < ckptBytes / 4 ? "met" : "MISSED");
  }

  // Freed blocks become reusable only after the file system's journal commits (ext4: every 5 s).
  private static void settle() {
    try {
      new ProcessBuilder("sync").inheritIO().start().waitFor();
      Thread.sleep(6000);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    java.util.Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  // Note [paired rounds]: the shared VM's disk speed drifts by 2x within a minute, so each round
  // measures the baseline right before the checkpoint operation and the ratio is taken per round.
  private static double[][] rounds(
      org.zero4j.zero.comm.Collectives comm, Path work, Path dir, long n, int rounds) {
    List<NamedParameter> named = new ArrayList<>();
    int pieces = 7;
    for (int i = 0; i < pieces; i++) {
      named.add(
          new NamedParameter("layer" + i + ".weight", torch.randn(n / pieces).requires_grad_()));
    }
    named.add(new NamedParameter("odd.bias", torch.randn(53).requires_grad_()));
    String json =
        """
        {"train_batch_size": 1, "gradient_clipping": 0.0,
         "optimizer": {"type": "AdamW", "params": {"lr": 1e-3}},
         "zero_optimization": {"stage": 0}}
        """;
    double[][] ratios = new double[2][rounds];
    try (Engine e = Zero4j.setup(named).config(json).collectives(comm).start()) {
      Tensor loss = torch.zeros(1);
      for (NamedParameter p : named) {
        loss = loss.add(p.tensor().mul(new Scalar(1e-3)).sum());
      }
      e.backward(loss);
      e.step();
      e.saveCheckpoint(dir, "round0", Map.of()); // warm-up, and the sizes
      long ckpt = sizeOf(dir.resolve("round0"));
      long optim = ckpt - Files.size(dir.resolve("round0").resolve(CheckpointDir.MODEL_FILE));
      Path baseline = work.resolve("baseline.bin");
      for (int r = 1; r <= rounds; r++) {
        // Note [same blocks]: on this VM, writing blocks the file system has never used ran up to
        // 5x slower than reusing freed ones. Each round therefore frees the previous checkpoint,
        // writes and frees the baseline, then saves, so both draw on the same freed space.
        deleteTree(dir.resolve("round" + (r - 1)));
        settle();
        double write = writeBaseline(baseline, ckpt);
        double read = readBaseline(baseline, optim);
        deleteTree(baseline);
        settle();
        String tag = "round" + r;
        long t0 = System.nanoTime();
        e.saveCheckpoint(dir, tag, Map.of());
        double save = ckpt / ((System.nanoTime() - t0) / 1e9) / 1e9;
        evict(dir.resolve(tag));
        t0 = System.nanoTime();
        e.loadCheckpoint(dir, tag, true, true, false);
        double load = optim / ((System.nanoTime() - t0) / 1e9) / 1e9;
        ratios[0][r - 1] = save / write;
        ratios[1][r - 1] = load / read;
        System.out.printf(
            Locale.ROOT,
            "%5d  %10.2f  %9.2f  %10.2f  %9.2f  %9.2f  %9.2f%n",
            r,
            write,
            save,
            ratios[0][r - 1],
            read,
            load,
            ratios[1][r - 1]);
      }
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return ratios;
  }

  /** Writes {@code bytes} sequentially and fsyncs; returns GB/s. */
  private static double writeBaseline(Path file, long bytes) {
    // Note [fresh file]: overwriting an existing file skips block allocation and ran 5x faster
    // here than writing a new one; a checkpoint always writes new files, so the baseline does too.
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER);
    SplittableRandom rnd = new SplittableRandom(1);
    while (buf.remaining() >= 8) {
      buf.putLong(rnd.nextLong());
    }
    long t0 = System.nanoTime();
    try (FileChannel ch =
        FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      for (long pos = 0; pos < bytes; ) {
        buf.clear().limit((int) Math.min(BUFFER, bytes - pos));
        while (buf.hasRemaining()) {
          pos += ch.write(buf, pos);
        }
      }
      ch.force(true);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes / ((System.nanoTime() - t0) / 1e9) / 1e9;
  }

  /** Reads the first {@code bytes} of {@code file}, evicted from the cache first; returns GB/s. */
  private static double readBaseline(Path file, long bytes) {
    ByteBuffer buf = ByteBuffer.allocateDirect(BUFFER);
    evict(file);
    long t0 = System.nanoTime();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      for (long pos = 0; pos < bytes; ) {
        buf.clear();
        int r = ch.read(buf, pos);
        if (r < 0) {
          break;
        }
        pos += r;
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes / ((System.nanoTime() - t0) / 1e9) / 1e9;
  }

  private static long toFp32(Path dir, Path out) throws IOException, InterruptedException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p =
        new ProcessBuilder(
                java,
                "-cp",
                System.getProperty("java.class.path"),
                "org.zero4j.engine.cli.Zero4jCli",
                "to-fp32",
                dir.toString(),
                out.toString())
            .redirectErrorStream(true)
            .start();
    long rss = -1;
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        System.out.println("  " + line);
        if (line.startsWith("to-fp32: peak RSS ")) {
          rss = Long.parseLong(line.substring(18).split(" ")[0]);
        }
      }
    }
    if (p.waitFor() != 0 || rss < 0) {
      throw new IllegalStateException("to-fp32 failed or did not report its peak RSS");
    }
    return rss;
  }

  private static void evict(Path path) {
    try (var walk = Files.walk(path)) {
      for (Path f : walk.filter(Files::isRegularFile).toList()) {
        Process p =
            new ProcessBuilder("dd", "if=" + f, "iflag=nocache", "count=0", "status=none")
                .inheritIO()
                .start();
        if (p.waitFor() != 0) {
          throw new IllegalStateException("dd could not evict " + f + " from the page cache");
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static long sizeOf(Path dir) {
    try (var walk = Files.walk(dir)) {
      long total = 0;
      for (Path f : walk.filter(Files::isRegularFile).toList()) {
        total += Files.size(f);
      }
      return total;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteTree(Path dir) {
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
