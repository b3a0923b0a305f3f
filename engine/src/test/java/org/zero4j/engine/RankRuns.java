package org.zero4j.engine;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.TinyMlp;
import org.zero4j.zero.comm.LocalRanks;

/** Trains {@link TinyMlp} through the Engine on N thread ranks, as a user's loop would. */
final class RankRuns {

  static final long SEED = 42;
  static final int ROWS = 24;

  /** What one rank ended with. */
  record Outcome(List<Tensor> params, List<Double> lrs, List<Double> norms, Engine engine) {}

  /** Hook for a test to change a micro-batch's loss (for example to inject an overflow). */
  interface LossEdit {
    Tensor apply(int step, Tensor loss);
  }

  private RankRuns() {}

  static List<Outcome> train(int world, String json, int steps, LossEdit edit) {
    return LocalRanks.run(
        world,
        Duration.ofSeconds(120),
        comm -> {
          TinyMlp model = TinyMlp.create(SEED);
          Engine engine = Zero4j.setup(model.named()).config(json).collectives(comm).start();
          int gas = engine.config().gradientAccumulationSteps();
          // inputs follow the model's (possibly converted) dtype, as a user's data loader would
          var dtype = model.l1.weight().scalar_type();
          int perRank = ROWS / world;
          int micro = perRank / gas;
          List<Double> lrs = new ArrayList<>();
          List<Double> norms = new ArrayList<>();
          for (int step = 1; step <= steps; step++) {
            Tensor[] b = TinyMlp.batch(SEED, step, ROWS);
            lrs.add(engine.getLr());
            for (int m = 0; m < gas; m++) {
              long start = (long) comm.rank() * perRank + (long) m * micro;
              Tensor loss =
                  model.loss(
                      b[0].narrow(0, start, micro).to(dtype),
                      b[1].narrow(0, start, micro).to(dtype));
              engine.backward(edit == null ? loss : edit.apply(step, loss));
              engine.step();
            }
            norms.add(engine.getGlobalGradNorm());
          }
          List<Tensor> params = new ArrayList<>();
          for (NamedParameter p : model.named()) {
            params.add(p.tensor().detach().clone());
          }
          engine.close();
          return new Outcome(params, lrs, norms, engine);
        });
  }

  /** A config for {@code ROWS} global rows with the given stage and extra top-level JSON. */
  static String config(int stage, int gas, String extra) {
    return """
        {
          "train_batch_size": %d,
          "gradient_accumulation_steps": %d,
          "gradient_clipping": 0.0,
          "optimizer": {"type": "AdamW",
                        "params": {"lr": 0.01, "betas": [0.9, 0.99], "eps": 1e-8,
                                   "weight_decay": 0.1}},
          "zero_optimization": {"stage": %d, "reduce_bucket_size": 100,
                                "allgather_bucket_size": 100, "overlap_comm": true}%s
        }
        """
        .formatted(ROWS, gas, stage, extra.isEmpty() ? "" : ",\n" + extra);
  }
}
