package org.zero4j.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.Consumer;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.engine.Engine;
import org.zero4j.zero.comm.LocalRanks;

/**
 * Truncated, bit-flipped and missing files each fail the load with an error naming the file. The
 * checkpoint is saved by 2 ranks and loaded by 1, so the loader reads every shard.
 */
class CorruptCheckpointTest {

  @TempDir Path tmp;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void everyCorruptionIsNamed() throws IOException {
    Path good = tmp.resolve("good");
    String json = CheckpointRuns.config(1, "fp32");
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp a = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(a, json, comm)) {
            CheckpointRuns.train(e, a, 0, 2);
            e.saveCheckpoint(good, null, Map.of());
          }
          return null;
        });
    String shard = CheckpointDir.optimizerFile(1);
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          OddMlp b = OddMlp.create(CheckpointRuns.SEED);
          try (Engine e = CheckpointRuns.start(b, json, comm)) {
            expect(e, good, "truncated", shard, f -> truncate(f.resolve(shard), 100));
            expect(e, good, "fails its CRC-32C check", shard, f -> flipInData(f.resolve(shard)));
            expect(e, good, "header", shard, f -> flip(f.resolve(shard), 20));
            expect(e, good, "is missing", shard, f -> delete(f.resolve(shard)));
            expect(
                e,
                good,
                "is missing",
                CheckpointManifest.FILE_NAME,
                f -> delete(f.resolve(CheckpointManifest.FILE_NAME)));
            expect(
                e,
                good,
                "unreadable or corrupt",
                CheckpointManifest.FILE_NAME,
                f -> flip(f.resolve(CheckpointManifest.FILE_NAME), 0));
            expect(
                e,
                good,
                "fails its CRC-32C check",
                CheckpointManifest.FILE_NAME,
                f ->
                    replaceInFile(
                        f.resolve(CheckpointManifest.FILE_NAME),
                        "\"global_steps\" : 2",
                        "\"global_steps\" : 3"));
            expectModuleOnly(e, good, CheckpointDir.MODEL_FILE);
            Path copy = copyOf(good, "latest-missing-tag");
            write(copy.resolve(CheckpointDir.LATEST), "global_step99");
            expectMessage(
                () -> e.loadCheckpoint(copy, null, true, true, false),
                "names tag \"global_step99\"",
                copy.resolve("global_step99").toString());
            delete(copy.resolve(CheckpointDir.LATEST));
            expectMessage(
                () -> e.loadCheckpoint(copy, null, true, true, false),
                "is missing",
                copy.resolve(CheckpointDir.LATEST).toString());
          }
          return null;
        });
  }

  private int cases;

  private void expect(Engine e, Path good, String message, String file, Consumer<Path> corruption) {
    Path copy = copyOf(good, "case" + cases++);
    Path tagDir = copy.resolve("global_step2");
    corruption.accept(tagDir);
    expectMessage(
        () -> e.loadCheckpoint(copy, null, true, true, false),
        message,
        tagDir.resolve(file).toString());
  }

  private void expectModuleOnly(Engine e, Path good, String file) {
    Path copy = copyOf(good, "case" + cases++);
    Path tagDir = copy.resolve("global_step2");
    flipInData(tagDir.resolve(file));
    expectMessage(
        () -> e.loadCheckpoint(copy, null, false, false, true),
        "fails its CRC-32C check",
        tagDir.resolve(file).toString());
  }

  private static void expectMessage(Runnable load, String... parts) {
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, load::run);
    for (String part : parts) {
      assertTrue(
          ex.getMessage().contains(part), "message lacks '" + part + "': " + ex.getMessage());
    }
  }

  private Path copyOf(Path good, String name) {
    Path to = tmp.resolve(name);
    try (var walk = Files.walk(good)) {
      for (Path p : walk.toList()) {
        Path target = to.resolve(good.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return to;
  }

  private static void truncate(Path f, long by) {
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(raf.length() - by);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  private static void flipInData(Path f) {
    long at;
    try (SafetensorsReader r = SafetensorsReader.open(f)) {
      at = r.tensors().values().iterator().next().begin() + 5;
    }
    flip(f, at);
  }

  private static void flip(Path f, long at) {
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.seek(at);
      int b = raf.read();
      raf.seek(at);
      raf.write(b ^ 0x10);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  private static void delete(Path f) {
    try {
      Files.delete(f);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  private static void replaceInFile(Path f, String from, String to) {
    try {
      String s = Files.readString(f);
      assertTrue(s.contains(from), f + " lacks " + from);
      Files.writeString(f, s.replace(from, to));
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }

  private static void write(Path f, String s) {
    try {
      Files.writeString(f, s);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
  }
}
