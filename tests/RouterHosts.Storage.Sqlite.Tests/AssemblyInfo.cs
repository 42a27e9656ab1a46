// The agent runs on Linux routers; these tests use Unix file modes, /bin/sh and /proc.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
