package org.zero4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.engine.demo.GptConfig;
import org.zero4j.engine.demo.GptModel;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.comm.LocalRanks;

/**
 * save16BitModel: at stage 3 the partitioned bf16 weights are gathered unit by unit and written on
 * rank 0, equal to the gathered parameters; without {@code
 * stage3_gather_16bit_weights_on_model_save} it is refused, as in DeepSpeed.
 */
class Save16BitModelTest {

  @TempDir Path dir;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private static synchronized GptModel build() {
    return new GptModel(new GptConfig(40, 16, 2, 2, 16, 3));
  }

  private static String config(boolean gather) {
    return """
        {"train_micro_batch_size_per_gpu": 2, "bf16": {"enabled": true},
         "optimizer": {"type": "AdamW", "params": {"lr": 1e-2}},
         "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0,
                               "stage3_gather_16bit_weights_on_model_save": %s}}
        """
        .formatted(gather);
  }

  @Test
  void stage3WritesTheGatheredBf16WeightsOnRankZero() {
    Path file = dir.resolve("model/weights.pt");
    List<Object[]> out =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              GptModel model = build();
              try (Engine e = Zero4j.setup(model).config(config(true)).collectives(comm).start()) {
                Tensor idx = torch.randint(40, new long[] {2, 16});
                e.backward(model.loss(idx, idx));
                e.step();
                boolean wrote = e.save16BitModel(file);
                List<String> names = new ArrayList<>();
                for (NamedParameter p : e.stage3Optimizer().parameters()) {
                  names.add(p.name());
                }
                return new Object[] {wrote, names, e.stage3Optimizer().fullParameters()};
              }
            });
    assertTrue((Boolean) out.get(0)[0]);
    assertTrue(!(Boolean) out.get(1)[0]);
    @SuppressWarnings("unchecked")
    List<String> names = (List<String>) out.get(0)[1];
    @SuppressWarnings("unchecked")
    List<Tensor> full = (List<Tensor>) out.get(0)[2];
    Map<String, Tensor> read = ModelWeightsFile.read(file, names);
    assertTrue(names.contains("h.1.attn.c_attn.weight"), names.toString());
    for (int i = 0; i < names.size(); i++) {
      Tensor t = read.get(names.get(i));
      assertEquals(torch.ScalarType.BFloat16.value, t.scalar_type().value, names.get(i));
      assertEquals(
          0.0,
          t.to(torch.ScalarType.Float)
              .sub(full.get(i).to(torch.ScalarType.Float))
              .abs()
              .max()
              .item_double(),
          names.get(i));
    }
  }

  @Test
  void stage3WithoutTheGatherKeyIsRefused() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                LocalRanks.run(
                    1,
                    Duration.ofSeconds(30),
                    comm -> {
                      try (Engine engine =
                          Zero4j.setup(build()).config(config(false)).collectives(comm).start()) {
                        return engine.save16BitModel(dir.resolve("w.pt"));
                      }
                    }));
    assertTrue(
        e.getMessage().contains("stage3_gather_16bit_weights_on_model_save: true"), e.getMessage());
  }
}
