package org.zero4j.zero;

import org.bytedeco.pytorch.Tensor;

/**
 * A trainable parameter and its dotted name in the model ({@code blocks.0.attn.weight}).
 *
 * @param name the name used in logs, errors and checkpoints
 * @param tensor the leaf tensor autograd fills the gradient of
 */
public record NamedParameter(String name, Tensor tensor) {}
