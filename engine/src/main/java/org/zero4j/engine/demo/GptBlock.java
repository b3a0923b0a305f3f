package org.zero4j.engine.demo;

import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LayerNormOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * One pre-LN transformer block: {@code x + attn(ln_1(x))}, then {@code x + mlp(ln_2(x))}.
 *
 * <p>Submodules: {@code ln_1}, {@code attn} ({@code c_attn}, {@code c_proj}), {@code ln_2}, {@code
 * mlp} ({@code c_fc}, {@code c_proj}).
 */
public final class GptBlock extends Module {
  final LayerNormImpl ln1;
  final CausalSelfAttention attn;
  final LayerNormImpl ln2;
  final FeedForward mlp;

  GptBlock(GptConfig config) {
    ln1 = register_module("ln_1", layerNorm(config.nEmbd()));
    attn = register_module("attn", new CausalSelfAttention(config));
    ln2 = register_module("ln_2", layerNorm(config.nEmbd()));
    mlp = register_module("mlp", new FeedForward(config));
  }

  /** Maps (B, T, C) to (B, T, C). */
  public Tensor forward(Tensor x) {
    Tensor h = x.add(attn.forward(ln1.forward(x)));
    return h.add(mlp.forward(ln2.forward(h)));
  }

  static LayerNormImpl layerNorm(int width) {
    // Note [LongVector(long)]: the one-long constructor makes a vector of that many zeros; the
    // shape {width} needs the long[] (varargs) constructor.
    return new LayerNormImpl(new LayerNormOptions(new LongVector(new long[] {width})));
  }
}
