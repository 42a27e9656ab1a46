// Agent processes and python peers are heavy on 2 cores: run test classes one at a time.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
