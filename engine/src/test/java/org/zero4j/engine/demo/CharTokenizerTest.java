package org.zero4j.engine.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class CharTokenizerTest {

  @Test
  void vocabularyIsTheSortedDistinctCharacters() {
    CharTokenizer tok = CharTokenizer.fromText("banana band");
    assertEquals(5, tok.vocabSize());
    assertEquals(" abdn", tok.decode(new long[] {0, 1, 2, 3, 4}));
    assertArrayEquals(new long[] {2, 1, 4, 1, 4, 0, 3}, tok.encode("banan d"));
  }

  @Test
  void corpusRoundTripsAndIsSizedForTheDemo() {
    String text = DemoCorpus.text();
    assertTrue(text.length() > 50_000 && text.length() < 200_000, "length " + text.length());
    CharTokenizer tok = CharTokenizer.fromText(text);
    TreeSet<Character> distinct = new TreeSet<>();
    for (char ch : text.toCharArray()) {
      distinct.add(ch);
    }
    assertEquals(distinct.size(), tok.vocabSize());
    long[] ids = tok.encode(text);
    assertEquals(text, tok.decode(ids));
    assertEquals(distinct.first().charValue(), tok.decode(new long[] {0}).charAt(0));
  }

  @Test
  void unknownCharactersAndIdsAreRejected() {
    CharTokenizer tok = CharTokenizer.fromText("abc");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> tok.encode("abz"));
    assertTrue(e.getMessage().contains("U+007A") && e.getMessage().contains("index 2"));
    assertThrows(IllegalArgumentException.class, () -> tok.decode(new long[] {3}));
    assertThrows(IllegalArgumentException.class, () -> CharTokenizer.fromText(""));
  }
}
