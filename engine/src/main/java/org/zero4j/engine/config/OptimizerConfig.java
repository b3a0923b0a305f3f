package org.zero4j.engine.config;

import java.util.List;
import java.util.Locale;
import org.zero4j.kernels.adam.AdamHyperparams;

/**
 * The {@code optimizer} block, bound to Adam hyperparameters with DeepSpeed's semantics.
 *
 * <p>Note [Adam vs AdamW]: DeepSpeed lower-cases the type. Type {@code adamw} is always decoupled;
 * type {@code adam} is decoupled too unless {@code adam_w_mode} is false (FusedAdam's {@code
 * adam_w_mode} defaults to true). Defaults are FusedAdam's (lr 1e-3, betas [0.9, 0.999], eps 1e-8,
 * weight_decay 0, bias_correction true), except that {@code torch_adam: true} selects {@code
 * torch.optim.Adam/AdamW}, whose AdamW default weight_decay is 0.01 and which has no {@code
 * bias_correction} parameter. {@code torch_adam} selects only the implementation; the arithmetic is
 * the same here.
 *
 * @param type the type as written in the config ({@code Adam}, {@code adamw}, ...)
 * @param hyperparams the resolved hyperparameters
 * @param torchAdam {@code params.torch_adam}: DeepSpeed would use the torch implementation
 */
public record OptimizerConfig(String type, AdamHyperparams hyperparams, boolean torchAdam) {

  /** Lower-cased optimizer types DeepSpeed knows that zero4j does not implement yet. */
  static final List<String> KNOWN_UNSUPPORTED =
      List.of(
          "adagrad",
          "lamb",
          "onebitadam",
          "zerooneadam",
          "onebitlamb",
          "muadam",
          "muadamw",
          "musgd",
          "lion",
          "muon");

  /** torch.optim classes, which DeepSpeed looks up by exact name for other types. */
  static final List<String> TORCH_OPTIMIZERS =
      List.of(
          "SGD",
          "Adadelta",
          "Adafactor",
          "Adagrad",
          "Adamax",
          "ASGD",
          "LBFGS",
          "NAdam",
          "RAdam",
          "RMSprop",
          "Rprop",
          "SparseAdam");

  public OptimizerConfig {
    if (hyperparams == null) {
      throw new IllegalArgumentException("optimizer.params must resolve to Adam hyperparameters");
    }
  }

  /** Reads the block; null (with an unsupported feature recorded) for a type not built yet. */
  static OptimizerConfig read(ConfigNode block, ConfigFindings findings) {
    block.accept("legacy_fusion");
    String type = block.string("type");
    ConfigNode params = block.object("params");
    if (type == null) {
      throw new IllegalArgumentException(
          block.key("type") + " is required when an optimizer block is given, e.g. \"AdamW\"");
    }
    String lower = type.toLowerCase(Locale.ROOT);
    if (!lower.equals("adam") && !lower.equals("adamw")) {
      if (!KNOWN_UNSUPPORTED.contains(lower) && !TORCH_OPTIMIZERS.contains(type)) {
        List<String> all = new java.util.ArrayList<>(TORCH_OPTIMIZERS);
        all.addAll(KNOWN_UNSUPPORTED);
        throw new IllegalArgumentException(
            block.key("type")
                + " \""
                + type
                + "\" is neither a DeepSpeed optimizer nor a torch.optim class"
                + ClosestKey.suggestion(type, all)
                + " (supported: Adam, AdamW)");
      }
      findings.unsupportedRaw(
          block.key("type") + " " + type + " is not supported yet (supported: Adam, AdamW)");
      return null;
    }
    if (params == null) {
      params = new ConfigNode(block.key("params"), JsonTrees.emptyObject());
    }
    if (params.has("max_grad_norm")) {
      throw new IllegalArgumentException(
          params.key("max_grad_norm")
              + " is not supported as an optimizer parameter; use the top-level"
              + " \"gradient_clipping\" instead");
    }
    boolean torchAdam = params.bool("torch_adam", false);
    boolean adamWModeParam = params.bool("adam_w_mode", true);
    boolean adamWMode = lower.equals("adamw") || adamWModeParam;
    double lr = params.number("lr", 1e-3);
    double[] betas = params.numbers("betas");
    if (betas == null) {
      betas = new double[] {0.9, 0.999};
    } else if (betas.length != 2) {
      throw new IllegalArgumentException(
          params.key("betas")
              + " must be a list of two numbers [beta1, beta2], got "
              + betas.length
              + " numbers");
    }
    double eps = params.number("eps", 1e-8);
    double weightDecay = params.number("weight_decay", torchAdam && adamWMode ? 0.01 : 0.0);
    boolean biasCorrection = true;
    if (torchAdam) {
      params.accept("set_grad_none");
      if (params.has("bias_correction")) {
        throw new IllegalArgumentException(
            params.key("bias_correction")
                + " is not a parameter of torch.optim.Adam/AdamW (selected by torch_adam: true);"
                + " remove it or set torch_adam to false");
      }
    } else {
      biasCorrection = params.bool("bias_correction", true);
      params.bool("set_grad_none", true);
    }
    if (params.bool("amsgrad", false)) {
      throw new IllegalArgumentException(params.key("amsgrad") + "=true is not supported yet");
    }
    params.rejectUnknown();
    try {
      return new OptimizerConfig(
          type,
          new AdamHyperparams(lr, betas[0], betas[1], eps, weightDecay, adamWMode, biasCorrection),
          torchAdam);
    } catch (IllegalArgumentException e) {
      String m =
          e.getMessage().replaceFirst("^beta1 ", "betas[0] ").replaceFirst("^beta2 ", "betas[1] ");
      throw new IllegalArgumentException(params.path() + "." + m, e);
    }
  }
}
