package org.zero4j.engine.config;

/**
 * The {@code bf16} block (also read under its old name {@code bfloat16}).
 *
 * @param enabled {@code enabled}: train with bf16 working weights and fp32 master weights (default
 *     false)
 * @param immediateGradUpdate {@code immediate_grad_update}: apply gradients as they arrive (default
 *     false)
 * @param checkGradOverflow {@code check_grad_overflow}: skip a step whose gradients overflow
 *     (default true)
 * @param bf16MasterWeightsAndGrads {@code bf16_master_weights_and_grads}: keep master weights in
 *     bf16 (default false)
 * @param bf16OptimizerStates {@code bf16_optimizer_states}: keep Adam moments in bf16 (default
 *     false)
 */
public record Bf16Config(
    boolean enabled,
    boolean immediateGradUpdate,
    boolean checkGradOverflow,
    boolean bf16MasterWeightsAndGrads,
    boolean bf16OptimizerStates) {

  /** DeepSpeed's defaults (disabled). */
  public static final Bf16Config DEFAULT = new Bf16Config(false, false, true, false, false);

  public Bf16Config {
    if (bf16OptimizerStates && !bf16MasterWeightsAndGrads) {
      throw new IllegalArgumentException(
          "bf16.bf16_optimizer_states needs bf16.bf16_master_weights_and_grads true; enable it or"
              + " drop bf16_optimizer_states");
    }
  }
}
