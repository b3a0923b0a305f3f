package org.zero4j.engine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.zero4j.engine.config.EngineConfig;
import org.zero4j.engine.config.MonitorConfig;

/**
 * What the engine reports about its steps on rank 0: the progress line every {@code
 * steps_per_print} steps, the backward/step timings with {@code wall_clock_breakdown}, and the
 * {@code csv_monitor} files (one CSV per event, named as DeepSpeed names them, with the number of
 * samples seen as the x axis).
 */
final class StepReport implements AutoCloseable {

  private static final String[] EVENTS = {
    "Train/Samples/train_loss", "Train/Samples/lr", "Train/Samples/loss_scale"
  };

  private final EngineConfig config;
  private final boolean rankZero;
  private final Map<String, Writer> csv = new LinkedHashMap<>();
  private double lossSum;
  private int lossCount;
  private long backwardNanos;
  private long stepNanos;

  StepReport(EngineConfig config, int rank) {
    this.config = config;
    this.rankZero = rank == 0;
    MonitorConfig monitor = config.csvMonitor();
    if (rankZero && monitor.enabled()) {
      openCsv(monitor);
    }
  }

  private void openCsv(MonitorConfig monitor) {
    Path dir =
        Path.of(monitor.outputPath().isEmpty() ? "." : monitor.outputPath(), monitor.jobName());
    try {
      Files.createDirectories(dir);
      for (String event : EVENTS) {
        Path file = dir.resolve(event.replace('/', '_') + ".csv");
        Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
        w.write("step," + event + "\n");
        csv.put(event, w);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(
          "csv_monitor.output_path: cannot write CSV files under "
              + dir.toAbsolutePath()
              + " ("
              + e.getMessage()
              + "); choose a writable directory",
          e);
    }
  }

  void addLoss(double value) {
    lossSum += value;
    lossCount++;
  }

  void addBackwardNanos(long nanos) {
    backwardNanos += nanos;
  }

  void afterStep(Engine engine, long nanos, boolean skipped) {
    stepNanos += nanos;
    long step = engine.globalSteps();
    double loss = lossCount == 0 ? Double.NaN : lossSum / lossCount;
    long samples = step * config.trainBatchSize();
    if (!csv.isEmpty()) {
      write("Train/Samples/train_loss", samples, loss);
      write("Train/Samples/lr", samples, engine.getLr());
      write("Train/Samples/loss_scale", samples, engine.lossScale());
    }
    int every = config.stepsPerPrint();
    if (rankZero && every > 0 && step % every == 0) {
      System.out.printf(
          "[zero4j] step=%d skipped=%d lr=%.6g loss_scale=%.6g grad_norm=%.4g%s%n",
          step,
          engine.skippedSteps(),
          engine.getLr(),
          engine.lossScale(),
          engine.getGlobalGradNorm(),
          skipped ? " (overflow: step skipped)" : "");
      if (config.wallClockBreakdown()) {
        System.out.printf(
            "[zero4j] time over last %d steps: backward=%.1fms step=%.1fms (per step)%n",
            every, backwardNanos / 1e6 / every, stepNanos / 1e6 / every);
        backwardNanos = 0;
        stepNanos = 0;
      }
    }
    lossSum = 0;
    lossCount = 0;
  }

  private void write(String event, long x, double value) {
    try {
      Writer w = csv.get(event);
      w.write(x + "," + value + "\n");
      w.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("csv_monitor: cannot append to " + event, e);
    }
  }

  @Override
  public void close() {
    for (Writer w : csv.values()) {
      try {
        w.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    csv.clear();
  }
}
