package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.TorchAdam;
import org.zero4j.zero.comm.LocalRanks;

/** Stage 2 with a parameter that gets no gradient: ignore_unused_parameters true vs false. */
class UnusedParameterTest {

  private static double run(boolean ignoreUnused) {
    return LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              torch.set_num_threads(1);
              TinyMlp model = TinyMlp.create(3);
              ZeroOptimizer.Options opts =
                  new ZeroOptimizer.Options(
                      2, Precision.FP32, Precision.FP32, 50, 50, true, true, true, ignoreUnused);
              try (ZeroOptimizer zero =
                  new ZeroOptimizer(model.named(), opts, comm, new TorchAdam())) {
                Tensor h = TinyMlp.batch(3, 1, 4)[0].narrow(1, 0, TinyMlp.OUT);
                Tensor w1 = model.l1.weight().detach().clone();
                zero.beforeBackward();
                // Only l2 is used: l1's weight and bias get no gradient.
                Tensor hidden = torch.tanh(torch.randn(4, TinyMlp.HIDDEN));
                torch.mse_loss(model.l2.forward(hidden), h).backward();
                zero.afterBackward();
                zero.step(new AdamHyperparams(0.1, 0.9, 0.99, 1e-8, 0, true, true), 1, 1.0, 0);
                return model.l1.weight().sub(w1).abs().max().item_double();
              }
            })
        .get(0);
  }

  @Test
  void unusedParametersAreZeroGradientsWhenIgnored() {
    assertEquals(0.0, run(true), "an unused parameter without weight decay must not move");
  }

  @Test
  void unusedParametersAreNamedWhenNotIgnored() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> run(false));
    assertTrue(e.getMessage().contains("l1.weight"), e.getMessage());
    assertTrue(e.getMessage().contains("ignore_unused_parameters"), e.getMessage());
  }
}
