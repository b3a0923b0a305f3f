package org.zero4j.engine.demo;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A character-level tokenizer: the vocabulary is the set of distinct characters of a text, sorted
 * by UTF-16 code unit, so token id {@code i} is the {@code i}-th smallest character.
 */
public final class CharTokenizer {
  private final char[] vocab;
  private final Map<Character, Integer> ids;

  private CharTokenizer(char[] vocab) {
    this.vocab = vocab;
    this.ids = new HashMap<>();
    for (int i = 0; i < vocab.length; i++) {
      ids.put(vocab[i], i);
    }
  }

  /** The tokenizer whose vocabulary is exactly the distinct characters of {@code text}. */
  public static CharTokenizer fromText(String text) {
    if (text.isEmpty()) {
      throw new IllegalArgumentException("cannot build a vocabulary from an empty text");
    }
    char[] chars = text.toCharArray();
    Arrays.sort(chars);
    int n = 0;
    for (int i = 0; i < chars.length; i++) {
      if (i == 0 || chars[i] != chars[i - 1]) {
        chars[n++] = chars[i];
      }
    }
    return new CharTokenizer(Arrays.copyOf(chars, n));
  }

  /** Number of distinct tokens. */
  public int vocabSize() {
    return vocab.length;
  }

  /** Token ids of {@code text}; fails on a character outside the vocabulary. */
  public long[] encode(String text) {
    long[] out = new long[text.length()];
    for (int i = 0; i < out.length; i++) {
      Integer id = ids.get(text.charAt(i));
      if (id == null) {
        throw new IllegalArgumentException(
            "character U+"
                + String.format("%04X", (int) text.charAt(i))
                + " at index "
                + i
                + " is not in the tokenizer's vocabulary of "
                + vocab.length
                + " characters");
      }
      out[i] = id;
    }
    return out;
  }

  /** The text of token ids {@code tokens}; fails on an id outside [0, vocabSize). */
  public String decode(long[] tokens) {
    StringBuilder sb = new StringBuilder(tokens.length);
    for (long t : tokens) {
      if (t < 0 || t >= vocab.length) {
        throw new IllegalArgumentException(
            "token id " + t + " is outside the vocabulary [0, " + vocab.length + ")");
      }
      sb.append(vocab[(int) t]);
    }
    return sb.toString();
  }
}
