package org.zero4j.engine.launch;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Optional;

/**
 * The main class of every rank started by {@link Launcher}: it ties the rank's life to the
 * launcher's, then runs the user's main class.
 *
 * <p>Note [orphaned ranks]: a launcher killed by SIGKILL runs no shutdown hook, and Linux does not
 * stop a dead parent's children. So each rank watches the launcher's pid (from {@value
 * Launcher#LAUNCHER_PID_ENV}) and halts as soon as it is gone.
 */
public final class RankEntry {

  private RankEntry() {}

  /**
   * {@code args[0]} is the user's main class; the rest are its arguments.
   *
   * @throws Throwable whatever the user's {@code main} throws, unchanged
   */
  public static void main(String[] args) throws Throwable {
    if (args.length == 0) {
      throw new IllegalArgumentException("usage: RankEntry MAIN_CLASS [ARGS...]");
    }
    watchLauncher();
    Method main = mainMethod(args[0]);
    try {
      main.invoke(null, (Object) Arrays.copyOfRange(args, 1, args.length));
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  private static void watchLauncher() {
    String raw = System.getenv(Launcher.LAUNCHER_PID_ENV);
    if (raw == null) {
      return;
    }
    Optional<ProcessHandle> launcher = ProcessHandle.of(Long.parseLong(raw.strip()));
    if (launcher.isEmpty() || !launcher.get().isAlive()) {
      orphaned(raw);
    }
    launcher.get().onExit().thenRun(() -> orphaned(raw));
  }

  private static void orphaned(String launcherPid) {
    System.err.println("zero4j: launcher (pid " + launcherPid + ") is gone; this rank exits");
    System.err.flush();
    Runtime.getRuntime().halt(1);
  }

  private static Method mainMethod(String className) throws ClassNotFoundException {
    Class<?> cls = Class.forName(className, false, RankEntry.class.getClassLoader());
    try {
      Method main = cls.getMethod("main", String[].class);
      if (Modifier.isStatic(main.getModifiers())) {
        main.setAccessible(true);
        return main;
      }
    } catch (NoSuchMethodException e) {
      // reported below with the fix
    }
    throw new IllegalArgumentException(
        className + " has no 'public static void main(String[])'; give a class that does");
  }
}
