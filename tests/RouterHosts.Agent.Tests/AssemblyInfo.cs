// Each test starts real agent processes; on 2 cores they run one class at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
