package org.zero4j.engine.config;

/** Binds the {@code fp16} and {@code bf16} (old name {@code bfloat16}) blocks. */
final class PrecisionReader {
  private PrecisionReader() {}

  static Fp16Config fp16(ConfigNode b, ConfigFindings f) {
    if (b == null) {
      return Fp16Config.DEFAULT;
    }
    Fp16Config c =
        new Fp16Config(
            b.bool("enabled", false),
            b.bool("auto_cast", false),
            b.number("loss_scale", 0.0),
            b.intValue("initial_scale_power", 16),
            b.intValue("loss_scale_window", 1000),
            b.intValue("hysteresis", 2),
            b.bool("consecutive_hysteresis", false),
            b.integer("min_loss_scale", 1),
            b.bool("fp16_master_weights_and_grads", false));
    b.rejectUnknown();
    if (c.autoCast()) {
      f.unsupported("fp16.auto_cast=true");
    }
    if (c.fp16MasterWeightsAndGrads()) {
      f.unsupported("fp16.fp16_master_weights_and_grads=true");
    }
    return c;
  }

  static Bf16Config bf16(ConfigNode root, ConfigFindings f) {
    ConfigNode b = root.object("bf16");
    ConfigNode old = root.object("bfloat16");
    if (b != null && old != null) {
      f.warn("bf16 and its old name bfloat16 are both given; bfloat16 is ignored, as in DeepSpeed");
    } else if (old != null) {
      f.warn("bfloat16 is the old name of the bf16 block; rename it to bf16");
      b = old;
    }
    if (b == null) {
      return Bf16Config.DEFAULT;
    }
    Bf16Config c =
        new Bf16Config(
            b.bool("enabled", false),
            b.bool("immediate_grad_update", false),
            b.bool("check_grad_overflow", true),
            b.bool("bf16_master_weights_and_grads", false),
            b.bool("bf16_optimizer_states", false));
    b.rejectUnknown();
    if (c.immediateGradUpdate()) {
      f.unsupported("bf16.immediate_grad_update=true");
    }
    if (c.bf16MasterWeightsAndGrads()) {
      f.unsupported("bf16.bf16_master_weights_and_grads=true");
    }
    return c;
  }

  /** DeepSpeed's rule: 16-bit master weights need ZeRO stage 1, 2 or 3. */
  static void checkAgainstZero(Fp16Config fp16, Bf16Config bf16, int stage) {
    if (stage == 0 && fp16.fp16MasterWeightsAndGrads()) {
      throw new IllegalArgumentException(
          "fp16.fp16_master_weights_and_grads needs zero_optimization.stage 1, 2 or 3, got 0");
    }
    if (stage == 0 && bf16.bf16MasterWeightsAndGrads()) {
      throw new IllegalArgumentException(
          "bf16.bf16_master_weights_and_grads needs zero_optimization.stage 1, 2 or 3, got 0");
    }
  }
}
