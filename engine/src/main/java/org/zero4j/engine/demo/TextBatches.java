package org.zero4j.engine.demo;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Next-token training samples cut from one token stream.
 *
 * <p>Sample {@code i} is the window starting at offset {@code i * blockSize}: its input is tokens
 * {@code [o, o + blockSize)} and its target is the same window shifted by one, {@code [o + 1, o +
 * blockSize + 1)}. Windows do not overlap, and there are {@code (tokens - 1) / blockSize} of them,
 * so sample indices from a distributed sampler over {@link #numSamples()} address disjoint text.
 */
public final class TextBatches {
  private final long[] tokens;
  private final int blockSize;

  /** Samples of {@code blockSize} tokens from {@code tokens} (which is not copied). */
  public TextBatches(long[] tokens, int blockSize) {
    if (blockSize <= 0) {
      throw new IllegalArgumentException("blockSize must be > 0, got " + blockSize);
    }
    if (tokens.length < blockSize + 1) {
      throw new IllegalArgumentException(
          "a text of "
              + tokens.length
              + " tokens is too short for one sample of blockSize "
              + blockSize
              + "; it needs at least blockSize + 1 tokens");
    }
    this.tokens = tokens;
    this.blockSize = blockSize;
  }

  /** Number of samples. */
  public int numSamples() {
    return (tokens.length - 1) / blockSize;
  }

  /** Tokens per sample. */
  public int blockSize() {
    return blockSize;
  }

  /** Offset in the token stream where sample {@code index} starts. */
  public long offset(int index) {
    if (index < 0 || index >= numSamples()) {
      throw new IllegalArgumentException(
          "sample index " + index + " is outside [0, " + numSamples() + ")");
    }
    return (long) index * blockSize;
  }

  /**
   * Inputs and targets for samples {@code indices}, row {@code r} holding sample {@code
   * indices[r]}: two int64 tensors of shape (indices.length, blockSize).
   */
  public Batch batch(int[] indices) {
    if (indices.length == 0) {
      throw new IllegalArgumentException("a batch needs at least one sample index");
    }
    long[] x = new long[indices.length * blockSize];
    long[] y = new long[x.length];
    for (int r = 0; r < indices.length; r++) {
      int o = (int) offset(indices[r]);
      System.arraycopy(tokens, o, x, r * blockSize, blockSize);
      System.arraycopy(tokens, o + 1, y, r * blockSize, blockSize);
    }
    return new Batch(tensor(x, indices.length), tensor(y, indices.length));
  }

  private Tensor tensor(long[] values, int rows) {
    try (Tensor flat = torch.tensor(values, new TensorOptions(ScalarType.Long))) {
      return flat.view(rows, blockSize);
    }
  }

  /** Inputs {@code x} and next-token targets {@code y}; closing frees both. */
  public record Batch(Tensor x, Tensor y) implements AutoCloseable {
    @Override
    public void close() {
      x.close();
      y.close();
    }
  }
}
