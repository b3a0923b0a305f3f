package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

@SuppressWarnings("try") // PointerScope is opened for its side effect: it frees the scratch tensors
class CausalSelfAttentionTest {

  /** Attention written out head by head with an explicit -inf mask, all in float64. */
  @Test
  void matchesExplicitMaskedSoftmaxAttentionInFloat64() {
    GptConfig config = new GptConfig(11, 8, 1, 3, 12, 17);
    torch.manual_seed(17);
    CausalSelfAttention attn = new CausalSelfAttention(config);
    attn.to(ScalarType.Double, false);
    try (PointerScope scope = new PointerScope()) {
      long b = 2;
      long t = 7;
      int c = config.nEmbd();
      int hs = config.headSize();
      TensorOptions f64 = new TensorOptions(ScalarType.Double);
      Tensor x = torch.randn(new long[] {b, t, c}, f64);
      Tensor qkv = x.matmul(attn.cAttn.weight().t()).add(attn.cAttn.bias());
      Tensor future = torch.triu(torch.ones(new long[] {t, t}, f64), 1).to(ScalarType.Bool);
      Tensor[] heads = new Tensor[config.nHead()];
      for (int h = 0; h < config.nHead(); h++) {
        Tensor q = qkv.narrow(2, (long) h * hs, hs);
        Tensor k = qkv.narrow(2, c + (long) h * hs, hs);
        Tensor v = qkv.narrow(2, 2L * c + (long) h * hs, hs);
        Tensor scores = q.matmul(k.transpose(1, 2)).mul(new Scalar(1.0 / Math.sqrt(hs)));
        Tensor weights =
            torch.softmax(scores.masked_fill(future, new Scalar(Double.NEGATIVE_INFINITY)), -1);
        heads[h] = weights.matmul(v);
      }
      Tensor merged = torch.cat(new org.bytedeco.pytorch.TensorVector(heads), 2);
      Tensor expected = merged.matmul(attn.cProj.weight().t()).add(attn.cProj.bias());
      Tensor actual = attn.forward(x);
      double diff = actual.sub(expected).abs().max().item_double();
      assertTrue(diff < 1e-12, "max abs diff " + diff);
      assertTrue(expected.abs().max().item_double() > 1e-3);
    }
  }
}
