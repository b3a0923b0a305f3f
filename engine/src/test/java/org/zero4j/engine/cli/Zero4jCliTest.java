package org.zero4j.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class Zero4jCliTest {

  private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
  private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
  private final Zero4jCli cli =
      new Zero4jCli(
          new PrintStream(outBytes, true, StandardCharsets.UTF_8),
          new PrintStream(errBytes, true, StandardCharsets.UTF_8));

  private String out() {
    return outBytes.toString(StandardCharsets.UTF_8);
  }

  private String err() {
    return errBytes.toString(StandardCharsets.UTF_8);
  }

  @Test
  void helpListsTheSubcommands() {
    assertEquals(0, cli.run(List.of("help")));
    assertTrue(out().matches("(?s).*\n  launch +start N local JVM ranks.*"), out());
    assertTrue(out().matches("(?s).*\n  config check +FILE.*"), out());
    assertTrue(out().matches("(?s).*\n  demo +train the demo GPT.*"), out());
    assertTrue(out().matches("(?s).*\n  help +print this list.*"), out());
    assertEquals("", err());
  }

  @Test
  void unknownOrMissingSubcommandIsAUsageError() {
    assertEquals(2, cli.run(List.of("lanch", "--nproc", "2")));
    assertTrue(err().startsWith("zero4j: unknown subcommand 'lanch --nproc 2'\nusage:"), err());
    errBytes.reset();
    assertEquals(2, cli.run(List.of()));
    assertTrue(err().startsWith("usage: zero4j SUBCOMMAND"), err());
  }

  @Test
  void longestMultiWordNameWins() {
    List<List<String>> seen = new ArrayList<>();
    cli.register(
        "probe",
        "x",
        args -> {
          seen.add(List.of("config", String.join(",", args)));
          return 5;
        });
    cli.register(
        "probe check",
        "y",
        args -> {
          seen.add(List.of("check", String.join(",", args)));
          return 7;
        });
    assertEquals(7, cli.run(List.of("probe", "check", "a.json", "--world-size", "2")));
    assertEquals(5, cli.run(List.of("probe", "other")));
    assertEquals(
        List.of(List.of("check", "a.json,--world-size,2"), List.of("config", "other")), seen);
    assertThrows(IllegalStateException.class, () -> cli.register("probe", "z", args -> 0));
  }

  @Test
  void launchUsageAndFlagErrors() {
    assertEquals(0, cli.run(List.of("launch", "--help")));
    assertTrue(out().startsWith("usage: zero4j launch --nproc N"), out());
    assertEquals(2, cli.run(List.of("launch", "--nproc", "two", "--", "M")));
    assertTrue(err().startsWith("zero4j launch: --nproc 'two' is not an integer"), err());
    assertFalse(err().contains("Exception"), err());
  }
}
