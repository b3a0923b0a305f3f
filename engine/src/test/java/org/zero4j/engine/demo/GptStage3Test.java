package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The demo GPT at ZeRO stage 3 on 2 ranks, its blocks as sharding units: the loss falls, and it
 * follows stage 2's loss curve (same math; tolerance 1e-4 relative, for sums over differently sized
 * buffers that round differently, compounded over the steps).
 */
class GptStage3Test {
  private static final int STEPS = 25;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @ParameterizedTest(name = "gradient accumulation {0}")
  @ValueSource(ints = {1, 2})
  void stage3TrainsLikeStage2WithFallingLoss(int gas) {
    List<Double> three = GptRanks.train(GptRanks.STAGE3, gas, STEPS);
    List<Double> two = GptRanks.train("\"stage\": 2", gas, STEPS);
    double first = three.get(0);
    double last = (three.get(STEPS - 1) + three.get(STEPS - 2) + three.get(STEPS - 3)) / 3;
    assertTrue(last < first - 0.5, "stage 3 loss went from " + first + " to " + last);
    for (int i = 0; i < STEPS; i++) {
      assertEquals(two.get(i), three.get(i), 1e-4 * two.get(i), "loss at step " + i);
    }
  }
}
