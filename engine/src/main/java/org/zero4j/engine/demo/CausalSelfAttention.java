package org.zero4j.engine.demo;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Multi-head causal self-attention: one fused query/key/value projection ({@code c_attn}),
 * libtorch's {@code scaled_dot_product_attention} with {@code is_causal}, and an output projection
 * ({@code c_proj}). No dropout, so forward is deterministic.
 */
final class CausalSelfAttention extends Module {
  private final int nHead;
  private final int nEmbd;
  final LinearImpl cAttn;
  final LinearImpl cProj;

  CausalSelfAttention(GptConfig config) {
    this.nHead = config.nHead();
    this.nEmbd = config.nEmbd();
    cAttn = register_module("c_attn", new LinearImpl(nEmbd, 3L * nEmbd));
    cProj = register_module("c_proj", new LinearImpl(nEmbd, nEmbd));
  }

  /** Maps {@code x} of shape (B, T, C) to (B, T, C); position t attends to positions 0..t. */
  Tensor forward(Tensor x) {
    long b = x.size(0);
    long t = x.size(1);
    long hs = nEmbd / nHead;
    TensorVector qkv = cAttn.forward(x).split(nEmbd, 2);
    Tensor q = qkv.get(0).view(b, t, nHead, hs).transpose(1, 2);
    Tensor k = qkv.get(1).view(b, t, nHead, hs).transpose(1, 2);
    Tensor v = qkv.get(2).view(b, t, nHead, hs).transpose(1, 2);
    Tensor y =
        torch.scaled_dot_product_attention(
            q, k, v, new TensorOptional(), 0.0, true, new DoubleOptional(), false);
    return cProj.forward(y.transpose(1, 2).contiguous().view(b, t, nEmbd));
  }
}
