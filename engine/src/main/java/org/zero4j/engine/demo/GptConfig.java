package org.zero4j.engine.demo;

/**
 * Shape and seed of the demo {@link GptModel}.
 *
 * @param vocabSize number of distinct tokens; the embedding rows and the LM head's outputs
 * @param blockSize the longest sequence the model accepts (rows of the position embedding)
 * @param nLayer number of transformer blocks
 * @param nHead attention heads per block; must divide {@code nEmbd}
 * @param nEmbd width of the residual stream
 * @param seed libtorch RNG seed used for the initial weights; equal seeds give equal weights
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, long seed) {

  public GptConfig {
    positive("vocabSize", vocabSize);
    positive("blockSize", blockSize);
    positive("nLayer", nLayer);
    positive("nHead", nHead);
    positive("nEmbd", nEmbd);
    if (nEmbd % nHead != 0) {
      throw new IllegalArgumentException(
          "GptConfig nEmbd "
              + nEmbd
              + " must be a multiple of nHead "
              + nHead
              + "; pick nEmbd = k * nHead");
    }
  }

  /** Width of one attention head. */
  public int headSize() {
    return nEmbd / nHead;
  }

  private static void positive(String name, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException("GptConfig " + name + " must be > 0, got " + value);
    }
  }
}
