package org.zero4j.engine.demo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.LinearOptions;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.ModuleListImpl;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.zero4j.zero.stage3.ShardedModel;
import org.zero4j.zero.stage3.ShardedUnit;

/**
 * A small GPT-2-style decoder built from libtorch modules, for the demo and the engine's tests.
 *
 * <p>Layout: token embedding {@code wte} plus learned position embedding {@code wpe}, {@code
 * nLayer} pre-LN {@link GptBlock}s in the module list {@code h}, final LayerNorm {@code ln_f}, and
 * an LM head {@code lm_head} without bias. Parameter names follow nanoGPT, e.g. {@code wte.weight},
 * {@code h.0.ln_1.weight}, {@code h.0.attn.c_attn.weight}, {@code h.0.mlp.c_proj.bias}, {@code
 * ln_f.bias}, {@code lm_head.weight}.
 *
 * <p>The LM head is <em>not</em> tied to {@code wte}: a tied weight would be one tensor under two
 * names, which every flat-buffer layout would have to special-case. The model has no dropout, so
 * forward and backward are deterministic.
 *
 * <p>Initialization (GPT-2): every Linear and Embedding weight ~ N(0, 0.02), the two residual
 * projections ({@code attn.c_proj}, {@code mlp.c_proj}) ~ N(0, 0.02 / sqrt(2 nLayer)), biases zero,
 * LayerNorms (1, 0). The constructor calls {@code torch.manual_seed(config.seed())}, which also
 * reseeds libtorch's global CPU generator for the caller.
 *
 * <p>Sharding units (ZeRO stage 3): {@code embed} ({@code wte}, {@code wpe}), one unit per block
 * named {@code h.<i>}, and {@code head} ({@code ln_f}, {@code lm_head}); the forward pass calls
 * them in that order, so no parameter is left to the root unit.
 *
 * <p>Lifetimes: construct the model outside any {@code PointerScope} (a scope would free the
 * modules when it closes). Forward and loss create their intermediates in the caller's scope; wrap
 * each training step in a {@code PointerScope}. The model works after {@code to(BFloat16)} or
 * {@code to(Half)}; the loss is always computed in fp32.
 */
public final class GptModel extends Module implements ShardedModel {
  private static final double INIT_STD = 0.02;

  private final GptConfig config;
  private final EmbeddingImpl wte;
  private final EmbeddingImpl wpe;
  private final List<GptBlock> blocks;
  private final LayerNormImpl lnF;
  private final LinearImpl lmHead;
  private final ShardedUnit embed;
  private final List<ShardedUnit> blockUnits;
  private final ShardedUnit head;
  private final long parameterCount;

  /** Builds the model and initializes it deterministically from {@code config.seed()}. */
  public GptModel(GptConfig config) {
    this.config = config;
    torch.manual_seed(config.seed());
    wte = register_module("wte", new EmbeddingImpl(config.vocabSize(), config.nEmbd()));
    wpe = register_module("wpe", new EmbeddingImpl(config.blockSize(), config.nEmbd()));
    ModuleListImpl h = register_module("h", new ModuleListImpl());
    List<GptBlock> list = new ArrayList<>(config.nLayer());
    for (int i = 0; i < config.nLayer(); i++) {
      GptBlock block = new GptBlock(config);
      h.push_back(block);
      list.add(block);
    }
    blocks = List.copyOf(list);
    lnF = register_module("ln_f", GptBlock.layerNorm(config.nEmbd()));
    LinearOptions headOptions = new LinearOptions(config.nEmbd(), config.vocabSize());
    headOptions.bias().put(false);
    lmHead = register_module("lm_head", new LinearImpl(headOptions));
    initWeights();
    embed = new ShardedUnit("embed", ShardedUnit.parametersOf(wte, wpe), this::embed);
    List<ShardedUnit> units = new ArrayList<>();
    for (int i = 0; i < blocks.size(); i++) {
      GptBlock block = blocks.get(i);
      units.add(ShardedUnit.of("h." + i, block, block::forward));
    }
    blockUnits = List.copyOf(units);
    head =
        new ShardedUnit(
            "head", ShardedUnit.parametersOf(lnF, lmHead), x -> lmHead.forward(lnF.forward(x)));
    parameterCount = countParameters();
  }

  /** The sharding units in forward order: {@code embed}, {@code h.0} ... , {@code head}. */
  @Override
  public List<ShardedUnit> units() {
    List<ShardedUnit> out = new ArrayList<>();
    out.add(embed);
    out.addAll(blockUnits);
    out.add(head);
    return out;
  }

  /** The configuration this model was built from. */
  public GptConfig config() {
    return config;
  }

  /**
   * The transformer blocks in order, as registered under {@code h.0}, {@code h.1}, ...; each
   * block's {@code parameters()} are exactly the model parameters named {@code h.<i>.*}.
   */
  public List<Module> blocks() {
    return Collections.<Module>unmodifiableList(blocks);
  }

  /**
   * Logits for token ids {@code idx} of shape (B, T) (int64, T &le; blockSize): shape (B, T,
   * vocabSize), in the model's dtype. Logit (b, t) depends only on tokens (b, 0..t).
   */
  public Tensor forward(Tensor idx) {
    if (idx.dim() != 2) {
      throw new IllegalArgumentException(
          "GptModel.forward expects token ids of shape (B, T), got " + idx.dim() + " dims");
    }
    long t = idx.size(1);
    if (t > config.blockSize()) {
      throw new IllegalArgumentException(
          "sequence length "
              + t
              + " exceeds blockSize "
              + config.blockSize()
              + "; cut the input or build the model with a larger blockSize");
    }
    Tensor x = embed.forward(idx);
    for (ShardedUnit block : blockUnits) {
      x = block.forward(x);
    }
    return head.forward(x);
  }

  private Tensor embed(Tensor idx) {
    Tensor pos = torch.arange(new Scalar(idx.size(1)), new TensorOptions(ScalarType.Long));
    return wte.forward(idx).add(wpe.forward(pos));
  }

  /**
   * Mean cross-entropy of the next-token prediction: {@code forward(idx)} against {@code targets}
   * (same shape as {@code idx}), computed in fp32 whatever the model's dtype. Returns a scalar.
   */
  public Tensor loss(Tensor idx, Tensor targets) {
    Tensor logits = forward(idx).view(-1, config.vocabSize()).to(ScalarType.Float);
    return torch.cross_entropy(logits, targets.reshape(-1));
  }

  /** Number of scalar parameters (counted at construction: at stage 3 they are sharded). */
  public long parameterCount() {
    return parameterCount;
  }

  private long countParameters() {
    TensorVector params = parameters();
    long n = 0;
    for (long i = 0; i < params.size(); i++) {
      n += params.get(i).numel();
    }
    return n;
  }

  private void initWeights() {
    double residualStd = INIT_STD / Math.sqrt(2.0 * config.nLayer());
    NoGradGuard noGrad = new NoGradGuard();
    try {
      torch.normal_(wte.weight(), 0.0, INIT_STD);
      torch.normal_(wpe.weight(), 0.0, INIT_STD);
      for (GptBlock block : blocks) {
        initLinear(block.attn.cAttn, INIT_STD);
        initLinear(block.attn.cProj, residualStd);
        initLinear(block.mlp.cFc, INIT_STD);
        initLinear(block.mlp.cProj, residualStd);
      }
      torch.normal_(lmHead.weight(), 0.0, INIT_STD);
    } finally {
      noGrad.close();
    }
  }

  private static void initLinear(LinearImpl linear, double std) {
    torch.normal_(linear.weight(), 0.0, std);
    torch.zeros_(linear.bias());
  }
}
