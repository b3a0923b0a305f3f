package org.zero4j.zero.stage3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zero4j.zero.NamedParameter;
import org.zero4j.zero.Precision;
import org.zero4j.zero.comm.LocalRanks;

/**
 * The header exchange behind Note [agreed order]: ranks that describe the same collective at the
 * same point agree; a rank asking after its collective failed never confirms a peer's header, even
 * one describing the same collective; and a different position in the iteration is a divergence.
 */
class DivergenceHeaderTest {

  private static final List<String> NAMES = List.of("u0", "u1");

  @BeforeAll
  static void threads() {
    torch.set_num_threads(1);
  }

  @Test
  void sameCollectiveAgrees() {
    assertEquals(List.of("ok", "ok"), exchange(new long[] {3, 3}, new long[] {0, 0}));
  }

  @Test
  void askingNeverConfirms() {
    List<String> seen =
        exchange(
            new long[] {3, 3}, new long[] {DivergenceHeader.CONFIRMING, DivergenceHeader.ASKING});
    for (String s : seen) {
      assertTrue(s.startsWith("ZeRO stage 3 ranks diverged at step 7"), s);
      assertTrue(s.contains("asking after its collective failed"), s);
      assertTrue(s.contains("'u1'"), s);
    }
  }

  @Test
  void anotherPositionIsADivergence() {
    List<String> seen = exchange(new long[] {3, 4}, new long[] {0, 0});
    for (String s : seen) {
      assertTrue(s.startsWith("ZeRO stage 3 ranks diverged at step 7"), s);
    }
    String r0 = seen.get(0);
    String r1 = seen.get(1);
    assertTrue(r0.contains("collective 3 of this rank's iteration, 4 of rank 1's"), r0);
    assertTrue(r1.contains("collective 4 of this rank's iteration, 3 of rank 0's"), r1);
  }

  /** Each rank r exchanges a header for a gather of unit u1 at position[r] with role[r]. */
  private static List<String> exchange(long[] position, long[] role) {
    return LocalRanks.run(
        2,
        Duration.ofSeconds(20),
        comm -> {
          NamedParameter p = new NamedParameter("w", torch.rand(5, 3));
          UnitParams u1 = new UnitParams(1, "u1", List.of(p), 2, comm.rank(), Precision.FP32);
          try {
            DivergenceHeader h =
                DivergenceHeader.issue(
                    comm.control(),
                    UnitCollectives.Kind.GATHER,
                    7,
                    position[comm.rank()],
                    role[comm.rank()],
                    List.of(u1),
                    Duration.ofSeconds(10));
            h.check(comm.control(), NAMES);
            return "ok";
          } catch (RankDivergenceException e) {
            return e.getMessage();
          } finally {
            u1.close();
          }
        });
  }
}
