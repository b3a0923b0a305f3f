package org.zero4j.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigCheckCommandTest {
  @TempDir Path dir;

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return ConfigCheckCommand.run(
        List.of(args),
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String write(String json) throws Exception {
    Path p = dir.resolve("ds.json");
    Files.writeString(p, json);
    return p.toString();
  }

  @Test
  void validConfigExitsZeroAndListsAutos() throws Exception {
    String f =
        write(
            "{\"train_batch_size\": \"auto\", \"train_micro_batch_size_per_gpu\": 2,"
                + " \"optimizer\": {\"type\": \"AdamW\", \"params\": {\"lr\": \"auto\"}},"
                + " \"scheduler\": {\"type\": \"WarmupDecayLR\", \"params\":"
                + " {\"total_num_steps\": \"auto\", \"warmup_num_steps\": \"auto\"}},"
                + " \"zero_optimization\": {\"stage\": 2}}");
    assertEquals(0, run(f, "--world-size", "4"), err.toString());
    String o = out.toString(StandardCharsets.UTF_8);
    assertTrue(o.contains("\"train_batch_size\" : 8"), o);
    assertTrue(o.contains("left for initialize"), o);
    assertTrue(o.contains("scheduler.params.total_num_steps"), o);
    assertTrue(o.contains("OK: valid and supported"), o);
  }

  @Test
  void invalidConfigExitsOneWithTheError() throws Exception {
    String f = write("{\"train_batch_size\": 4, \"zero_optimization\": {\"stag\": 2}}");
    assertEquals(1, run(f));
    String e = err.toString(StandardCharsets.UTF_8);
    assertTrue(e.contains("zero_optimization.stag: unknown key; did you mean stage?"), e);
  }

  @Test
  void unsupportedFeatureExitsTwo() throws Exception {
    String f =
        write(
            "{\"train_batch_size\": 4, \"zero_optimization\": {\"stage\": 3,"
                + " \"stage3_allgather_sequential\": true}}");
    assertEquals(2, run(f));
    String e = err.toString(StandardCharsets.UTF_8);
    assertTrue(e.contains("valid DeepSpeed, but this build of zero4j cannot run it yet"), e);
    assertTrue(
        e.contains("zero_optimization.stage3_allgather_sequential=true is not supported yet"), e);
  }

  @Test
  void badArgumentsExitOne() throws Exception {
    assertEquals(1, run());
    assertEquals(1, run(write("{\"train_batch_size\": 4}"), "--world-size", "x"));
    assertEquals(1, run(dir.resolve("missing.json").toString()));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("cannot read config"));
  }
}
