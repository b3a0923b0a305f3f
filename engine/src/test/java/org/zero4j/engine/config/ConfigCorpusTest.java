package org.zero4j.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every config under configs/valid loads; every one under configs/invalid fails naming its key. */
class ConfigCorpusTest {
  static final AutoValues AUTOS = AutoValues.NONE.withTotalSteps(1000L).withWarmupSteps(100L);

  static Path dir(String name) throws URISyntaxException {
    return Path.of(ConfigCorpusTest.class.getResource("/configs/" + name).toURI());
  }

  static Stream<Path> validFiles() throws Exception {
    try (Stream<Path> s = Files.list(dir("valid"))) {
      return s.filter(p -> p.toString().endsWith(".json")).sorted().toList().stream();
    }
  }

  static Stream<Arguments> invalidFiles() throws Exception {
    return Files.readAllLines(dir("invalid").resolve("expected-errors.tsv")).stream()
        .filter(l -> !l.isBlank())
        .map(l -> l.split("\t", 2))
        .map(parts -> Arguments.of(parts[0], parts[1]));
  }

  @ParameterizedTest
  @MethodSource("validFiles")
  void validConfigLoads(Path file) {
    EngineConfig c = EngineConfig.load(file, 1, AUTOS);
    assertEquals(
        c.trainBatchSize(), c.microBatchPerGpu() * c.gradientAccumulationSteps(), file.toString());
    String pretty = c.toPrettyJson();
    assertTrue(JsonTrees.parse(pretty).has("zero_optimization"), pretty);
  }

  @ParameterizedTest
  @MethodSource("invalidFiles")
  void invalidConfigFailsNamingTheKey(String file, String expected) throws Exception {
    Path p = dir("invalid").resolve(file);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> EngineConfig.load(p, 1, AutoValues.NONE));
    assertTrue(
        e.getMessage().contains(expected),
        () -> file + ": expected message containing [" + expected + "] but was: " + e.getMessage());
  }

  @Test
  void corpusIsLargeEnoughAndEveryInvalidFileIsListed() throws Exception {
    assertTrue(validFiles().count() >= 25);
    List<String> listed = invalidFiles().map(a -> (String) a.get()[0]).toList();
    assertTrue(listed.size() >= 30);
    try (Stream<Path> s = Files.list(dir("invalid"))) {
      for (Path p : s.filter(f -> f.toString().endsWith(".json")).toList()) {
        assertTrue(listed.contains(p.getFileName().toString()), p + " has no expected error");
      }
    } catch (IOException e) {
      throw e;
    }
  }
}
