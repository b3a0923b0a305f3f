package org.zero4j.engine.demo;

import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** The block's MLP: {@code c_fc} to 4C, exact (erf) GELU, {@code c_proj} back to C. */
final class FeedForward extends Module {
  final LinearImpl cFc;
  final LinearImpl cProj;

  FeedForward(GptConfig config) {
    cFc = register_module("c_fc", new LinearImpl(config.nEmbd(), 4L * config.nEmbd()));
    cProj = register_module("c_proj", new LinearImpl(4L * config.nEmbd(), config.nEmbd()));
  }

  Tensor forward(Tensor x) {
    return cProj.forward(torch.gelu(cFc.forward(x)));
  }
}
