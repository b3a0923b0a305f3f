package org.zero4j.zero;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.CpuAdam;
import org.zero4j.offload.AioConfig;
import org.zero4j.offload.OffloadDevice;
import org.zero4j.offload.OffloadOptimizerConfig;
import org.zero4j.offload.swap.SwapLayout;
import org.zero4j.zero.comm.LocalRanks;

/**
 * NVMe-offloaded state seen through readState/writeState against the in-memory state of an
 * identical run, the free-space check, and a swap failure on one rank that must stop both.
 */
class OffloadStateTest {

  private static final AdamHyperparams HP =
      new AdamHyperparams(0.01, 0.9, 0.99, 1e-8, 0.1, true, true);

  @TempDir Path dir;

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  private OptimizerOffload nvme(long subGroup) {
    OffloadOptimizerConfig c =
        new OffloadOptimizerConfig(
            OffloadDevice.NVME, dir.toString(), true, 9, true, true, false, 1.0, false, 0.8);
    return new OptimizerOffload(
        c, new AioConfig(4096, 4, 2, false, true, false), subGroup, d -> Long.MAX_VALUE);
  }

  private static ZeroOptimizer.Options options(int stage) {
    return new ZeroOptimizer.Options(
        stage, Precision.FP32, Precision.FP32, 50, 50, true, true, true, true);
  }

  private static void train(ZeroOptimizer zero, TinyMlp model, int rank, int world, int steps) {
    int local = 12 / world;
    for (int step = 1; step <= steps; step++) {
      Tensor[] b = TinyMlp.batch(3, step, 12);
      zero.beforeBackward();
      model
          .loss(
              b[0].narrow(0, (long) rank * local, local),
              b[1].narrow(0, (long) rank * local, local))
          .backward();
      zero.afterBackward();
      zero.step(HP, step, 1.0, 0.0);
    }
  }

  @Test
  void rangedReadsAndWritesMatchTheInMemoryState() {
    LocalRanks.run(
        1,
        Duration.ofSeconds(60),
        comm -> {
          TinyMlp a = TinyMlp.create(5);
          TinyMlp b = TinyMlp.create(5);
          try (ZeroOptimizer mem = new ZeroOptimizer(a.named(), options(2), comm, new CpuAdam(1));
              ZeroOptimizer disk =
                  new ZeroOptimizer(b.named(), options(2), comm, new CpuAdam(1), nvme(23))) {
            train(mem, a, 0, 1, 4);
            train(disk, b, 0, 1, 4);
            assertEquals(mem.stateNumel(), disk.stateNumel());
            long n = disk.stateNumel();
            for (AdamState which : AdamState.values()) {
              Tensor whole = torch.empty(n);
              disk.readState(which, 0, whole);
              Tensor expected = torch.empty(n);
              mem.readState(which, 0, expected);
              assertTrue(torch.equal(whole, expected), which + " differs");
              Tensor part = torch.empty(41); // straddles sub-groups of 23
              disk.readState(which, 17, part);
              assertTrue(torch.equal(part, expected.narrow(0, 17, 41)), which + " range differs");
              Tensor edit = torch.rand(30); // positive: exp_avg_sq must stay >= 0
              disk.writeState(which, 40, edit);
              mem.writeState(which, 40, edit);
              disk.readState(which, 0, whole);
              mem.readState(which, 0, expected);
              assertTrue(torch.equal(whole, expected), which + " after write differs");
            }
            // state written back through writeState drives the next steps identically
            train(mem, a, 0, 1, 2);
            train(disk, b, 0, 1, 2);
            for (int i = 0; i < a.named().size(); i++) {
              assertTrue(torch.equal(a.named().get(i).tensor(), b.named().get(i).tensor()));
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, disk::masterShard);
            assertTrue(e.getMessage().contains("readState/writeState"), e.getMessage());
            assertThrows(IllegalStateException.class, disk::moments);
          }
          return null;
        });
  }

  @Test
  void refreshesGoThroughTheSwapFile() {
    LocalRanks.run(
        2,
        Duration.ofSeconds(60),
        comm -> {
          TinyMlp a = TinyMlp.create(5);
          try (ZeroOptimizer disk =
              new ZeroOptimizer(a.named(), options(1), comm, new CpuAdam(1), nvme(23))) {
            train(disk, a, comm.rank(), 2, 2);
            long n = disk.stateNumel();
            Tensor before = torch.empty(n);
            disk.readState(AdamState.MASTER, 0, before);
            Tensor edit = torch.randn(n);
            disk.writeState(AdamState.MASTER, 0, edit);
            disk.refreshMasterFromWorking();
            Tensor after = torch.empty(n);
            disk.readState(AdamState.MASTER, 0, after);
            assertTrue(torch.equal(before, after), "masters re-derived from the working copy");
            disk.writeState(AdamState.MASTER, 0, edit);
            disk.refreshWorkingFromMaster(); // sub-groups of 23, then the all-gather
            List<NamedParameter> params = disk.parameters();
            for (StateFragment f : disk.heldFragments()) {
              Tensor got =
                  params.get(f.param()).tensor().reshape(-1).narrow(0, f.start(), f.numel());
              assertTrue(torch.equal(got, edit.narrow(0, f.stateOffset(), f.numel())), "" + f);
            }
            // the two ranks' fragments cover every parameter element once
            long covered = 0;
            for (int r = 0; r < 2; r++) {
              for (StateFragment f : disk.savedFragments(r)) {
                covered += f.numel();
              }
            }
            assertEquals(disk.layout().paramNumel(), covered);
          }
          return null;
        });
  }

  @Test
  void tooLittleFreeSpaceIsRefusedBeforeAnyFileIsMade() throws Exception {
    String m =
        LocalRanks.run(
                1,
                Duration.ofSeconds(60),
                comm -> {
                  TinyMlp model = TinyMlp.create(5);
                  return assertThrows(
                          IllegalArgumentException.class,
                          () ->
                              new ZeroOptimizer(
                                  model.named(),
                                  options(1),
                                  comm,
                                  new CpuAdam(1),
                                  nvme(64).withFreeSpace(d -> 1000)))
                      .getMessage();
                })
            .get(0);
    // TinyMlp: 328 parameters, 12 bytes of state each, in sub-groups of 64 (5 full and one of 8);
    // each sub-group's master, exp_avg and exp_avg_sq start on a 4096-byte block (SwapLayout)
    assertEquals(73728, 3 * (5 * SwapLayout.align(64 * 4) + SwapLayout.align(8 * 4)));
    assertTrue(m.contains(dir + " has 1000 bytes free but the swap files need 73728 bytes"), m);
    try (var left = Files.list(dir)) {
      assertEquals(List.of(), left.toList());
    }
  }

  @Test
  void aSwapFailureOnOneRankStopsEveryRank() {
    List<String> errors =
        LocalRanks.run(
            2,
            Duration.ofSeconds(60),
            comm -> {
              TinyMlp model = TinyMlp.create(5);
              try (ZeroOptimizer zero =
                  new ZeroOptimizer(model.named(), options(2), comm, new CpuAdam(1), nvme(30))) {
                train(zero, model, comm.rank(), 2, 1);
                if (comm.rank() == 0) {
                  cutShort(dir);
                }
                comm.barrier();
                try {
                  train(zero, model, comm.rank(), 2, 1);
                  return "no error";
                } catch (RuntimeException e) {
                  return e.getMessage();
                }
              }
            });
    assertTrue(errors.get(0).contains("ends before offset"), errors.get(0));
    assertTrue(errors.get(1).contains("another rank's NVMe optimizer swap failed"), errors.get(1));
  }

  // Simulates a disk that lost data under rank 0: its swap file is truncated to 100 bytes.
  private static void cutShort(Path dir) {
    List<Path> files = new ArrayList<>();
    try (var all = Files.list(dir)) {
      all.filter(p -> p.getFileName().toString().contains("-r0-")).forEach(files::add);
      assertEquals(1, files.size(), files.toString());
      try (FileChannel ch = FileChannel.open(files.get(0), StandardOpenOption.WRITE)) {
        ch.truncate(100);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
