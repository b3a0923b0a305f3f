package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.engine.Engine;
import org.zero4j.engine.Zero4j;
import org.zero4j.zero.comm.Collectives;

/** Trains {@link OddMlp} through the Engine as a user's loop would, for checkpoint tests. */
final class CheckpointRuns {

  static final long SEED = 11;
  static final int ROWS = 24;

  private CheckpointRuns() {}

  /**
   * A config with gradient accumulation 2, clipping, AdamW and a WarmupDecayLR schedule, so the
   * micro-step position, the schedule and the moments all matter on resume.
   */
  static String config(int stage, String precision) {
    String extra =
        switch (precision) {
          case "fp32" -> "";
          case "bf16" -> ",\n\"bf16\": {\"enabled\": true}";
          case "fp16" -> ",\n\"fp16\": {\"enabled\": true, \"initial_scale_power\": 8}";
          default -> throw new IllegalArgumentException(precision);
        };
    return """
        {
          "train_batch_size": %d,
          "gradient_accumulation_steps": 2,
          "gradient_clipping": 0.5,
          "optimizer": {"type": "AdamW",
                        "params": {"lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-8,
                                   "weight_decay": 0.1}},
          "scheduler": {"type": "WarmupDecayLR",
                        "params": {"warmup_min_lr": 0.001, "warmup_max_lr": 0.02,
                                   "warmup_num_steps": 3, "total_num_steps": 20}},
          "zero_optimization": {"stage": %d, "reduce_bucket_size": 100,
                                "allgather_bucket_size": 100, "overlap_comm": true},
          "zero4j": {"collective_timeout_seconds": 20}%s
        }
        """
        .formatted(ROWS, stage, extra);
  }

  static Engine start(OddMlp model, String json, Collectives comm) {
    return Zero4j.setup(model.named()).config(json).collectives(comm).start();
  }

  /**
   * Trains global steps {@code from + 1 .. to} and returns every micro-batch loss of this rank, in
   * order.
   */
  static List<Double> train(Engine engine, OddMlp model, long from, long to) {
    assertEquals(from, engine.globalSteps(), "engine starts at the expected step");
    int world = engine.worldSize();
    int gas = engine.config().gradientAccumulationSteps();
    int perRank = ROWS / world;
    int micro = perRank / gas;
    var dtype = model.l1.weight().scalar_type();
    List<Double> losses = new ArrayList<>();
    for (long step = from + 1; step <= to; step++) {
      Tensor[] b = OddMlp.batch(SEED, step, ROWS);
      for (int m = 0; m < gas; m++) {
        long start = (long) engine.rank() * perRank + (long) m * micro;
        Tensor loss =
            model.loss(
                b[0].narrow(0, start, micro).to(dtype), b[1].narrow(0, start, micro).to(dtype));
        losses.add(loss.item_double());
        engine.backward(loss);
        engine.step();
      }
    }
    return losses;
  }

  /** The mean loss of each global step over all ranks' micro-batches (collective). */
  static List<Double> globalMeans(Engine engine, List<Double> losses) {
    int gas = engine.config().gradientAccumulationSteps();
    List<Double> out = new ArrayList<>();
    for (int i = 0; i < losses.size(); i += gas) {
      double sum = 0;
      for (int m = 0; m < gas; m++) {
        sum += losses.get(i + m);
      }
      out.add(engine.meanOverRanks(sum / gas));
    }
    return out;
  }

  static void assertBitEqual(List<Tensor> expected, List<Tensor> actual, String what) {
    assertEquals(expected.size(), actual.size(), what);
    for (int i = 0; i < expected.size(); i++) {
      assertTrue(
          torch.equal(expected.get(i), actual.get(i)), what + ": parameter " + i + " differs");
    }
  }

  static double maxAbsDiff(List<Tensor> a, List<Tensor> b) {
    double max = 0;
    for (int i = 0; i < a.size(); i++) {
      try (Tensor d =
          a.get(i).to(torch.ScalarType.Double).sub(b.get(i).to(torch.ScalarType.Double))) {
        max = Math.max(max, d.abs().max().item_double());
      }
    }
    return max;
  }
}
