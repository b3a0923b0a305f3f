package org.zero4j.engine.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/**
 * The choice of thread count; that ranks apply it to libtorch is checked by {@link LauncherTest}.
 */
class IntraOpThreadsTest {

  @Test
  void propertyWinsOverOmpNumThreads() {
    assertEquals(OptionalInt.of(3), IntraOpThreads.configured("3", Map.of("OMP_NUM_THREADS", "5")));
    assertEquals(
        OptionalInt.of(5), IntraOpThreads.configured(null, Map.of("OMP_NUM_THREADS", "5")));
    assertEquals(
        OptionalInt.of(6), IntraOpThreads.configured(" ", Map.of("OMP_NUM_THREADS", "6,2")));
    assertEquals(OptionalInt.empty(), IntraOpThreads.configured(null, Map.of()));
    assertEquals(OptionalInt.empty(), IntraOpThreads.configured("", Map.of("OMP_NUM_THREADS", "")));
  }

  @Test
  void badValuesNameTheSetting() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> IntraOpThreads.configured(null, Map.of("OMP_NUM_THREADS", "0")));
    assertTrue(e.getMessage().startsWith("OMP_NUM_THREADS='0'"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> IntraOpThreads.configured("many", Map.of()));
    assertTrue(e.getMessage().startsWith("-Dzero4j.intraOpThreads='many'"), e.getMessage());
  }
}
