namespace StampedeGuard.Redis.Tests.History;

/// <summary>The checker on hand-written histories: it must catch what it claims to catch, and allow what the model allows.</summary>
public sealed class HistoryCheckerTests
{
    private const double Bound = 1000;

    [Fact]
    public void Check_FactoryValueReadAfterSameNodeSet_ReportsViolationWithWitness()
    {
        var history = new HistoryBuilder()
            .Factory("n3", "k3", "f:n3:17", 9089, 9372)
            .GetOrCreate("n3", "k3", "f:n3:17", 9080, 9373)
            .Set("n2", "k3", "s:n2:40", 9319, 9320)
            .GetOrCreate("n2", "k3", "f:n3:17", 9388, 9390)
            .Build();

        var report = Check(history);

        report.Violations.Should().ContainSingle();
        report.Violations[0].Witness.Should().Be(
            "k3: n2 GetOrCreate [308-310] returned f:n3:17 (factory n3 9-292), but n2 SetAsync(k3) [239-240] returned on the same node and was invoked after the factory began");
        report.IsValid.Should().BeFalse();
    }

    [Fact]
    public void Check_CleanHistory_IsValid()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .GetOrCreate("n2", "k1", "s:n1:1", 10, 12)
            .Remove("n1", "k1", 20, 25)
            .Factory("n2", "k1", "f:n2:5", 31, 300)
            .GetOrCreate("n2", "k1", "f:n2:5", 30, 301)
            .GetOrCreate("n3", "k1", "f:n2:5", 302, 305)
            .TryGet("n1", "k1", "f:n2:5", 310, 311)
            .Expire("n3", "k1", 320, 322)
            .Factory("n1", "k1", "f:n1:9", 330, 400)
            .GetOrCreate("n1", "k1", "f:n1:9", 329, 401)
            .Build();

        var report = Check(history);

        report.IsValid.Should().BeTrue(report.Describe());
        report.ReadsChecked.Should().Be(5);
    }

    [Fact]
    public void Check_ReadConcurrentWithInvalidation_MayReturnTheOldValue()
    {
        // The read began before the Remove returned: either order is possible.
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Remove("n1", "k1", 20, 30)
            .GetOrCreate("n1", "k1", "s:n1:1", 29, 40)
            .Build();

        Check(history).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Check_OtherNodeReadWithinBound_AllowedAndMeasured()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Remove("n1", "k1", 20, 30)
            .TryGet("n2", "k1", "s:n1:1", 30 + 700, 731)
            .TryGet("n3", "k1", "s:n1:1", 30 + 400, 431)
            .Build();

        var report = Check(history);

        report.IsValid.Should().BeTrue(report.Describe());
        report.CrossNodeStaleReads.Should().Be(2);
        report.MaxCrossNodeStaleness!.GapMs.Should().Be(700);
        report.MaxCrossNodeStaleness.Witness.Should().Contain("n2 TryGet");
    }

    [Fact]
    public void Check_OtherNodeReadPastBound_ReportsViolation()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Remove("n1", "k1", 20, 30)
            .TryGet("n2", "k1", "s:n1:1", 30 + Bound + 1, 1100)
            .Build();

        var report = Check(history);

        report.Violations.Should().ContainSingle().Which.Witness.Should().Contain("on another node, 1001 ms before the read (bound 1000 ms)");
    }

    [Fact]
    public void Check_SameNodeReadWithinBound_ReportsViolation()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Remove("n1", "k1", 20, 30)
            .GetOrCreate("n1", "k1", "s:n1:1", 31, 32)
            .Build();

        Check(history).Violations.Should().ContainSingle().Which.Witness.Should().Contain("RemoveAsync(k1) [20-30] returned on the same node");
    }

    [Fact]
    public void Check_StaleTryGetAfterExpire_IsAllowed()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Expire("n1", "k1", 20, 30)
            .TryGet("n1", "k1", "s:n1:1", 40, 41, stale: true)
            .Build();

        Check(history).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Check_FreshTryGetAfterExpire_ReportsViolation()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Expire("n1", "k1", 20, 30)
            .TryGet("n1", "k1", "s:n1:1", 40, 41)
            .Build();

        Check(history).Violations.Should().ContainSingle().Which.Witness.Should().Contain("(not flagged stale)");
    }

    [Fact]
    public void Check_GetOrCreateAfterExpire_IsAllowedAsStale()
    {
        var history = new HistoryBuilder()
            .Factory("n2", "k1", "f:n2:1", 0, 5)
            .Expire("n1", "k1", 20, 30)
            .GetOrCreate("n1", "k1", "f:n2:1", 40, 41)
            .Build();

        Check(history).Violations.Should().BeEmpty("ExpireAsync keeps the value servable as stale, and GetOrCreate cannot flag it");
    }

    [Fact]
    public void Check_StaleTryGetAfterRemove_ReportsViolation()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Remove("n1", "k1", 20, 30)
            .TryGet("n1", "k1", "s:n1:1", 40, 41, stale: true)
            .Build();

        Check(history).Violations.Should().ContainSingle().Which.Witness.Should().Contain("(flagged stale)");
    }

    [Theory]
    [InlineData("tB", true)] // k1's group
    [InlineData("*", true)]
    [InlineData("tA", false)] // the other group
    public void Check_RemoveByTag_SupersedesOnlyTheKeysTagged(string tag, bool violation)
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .RemoveByTag("n1", tag, 20, 30)
            .GetOrCreate("n1", "k1", "s:n1:1", 40, 41)
            .Build();

        Check(history).Violations.Should().HaveCount(violation ? 1 : 0);
    }

    [Theory]
    [InlineData(Outcome.Fail)]
    [InlineData(Outcome.Indeterminate)]
    public void Check_InvalidationThatFailedOrDied_ImposesNothing(Outcome outcome)
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5)
            .Remove("n1", "k1", 20, 30, outcome)
            .GetOrCreate("n1", "k1", "s:n1:1", 40, 41)
            .Build();

        Check(history).IsValid.Should().BeTrue();
    }

    [Theory]
    [InlineData(Outcome.Fail)]
    [InlineData(Outcome.Indeterminate)]
    public void Check_ValueOfSetThatFailedOrDied_MayAppearAfterLaterInvalidations(Outcome outcome)
    {
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 5, outcome)
            .Remove("n2", "k1", 20, 30)
            .GetOrCreate("n2", "k1", "s:n1:1", 40, 41)
            .Build();

        Check(history).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Check_SetOverlappingInvalidation_MayWin()
    {
        // The Set began before the Remove but returned after it began: it may take effect last.
        var history = new HistoryBuilder()
            .Set("n1", "k1", "s:n1:1", 0, 25)
            .Remove("n2", "k1", 20, 30)
            .GetOrCreate("n2", "k1", "s:n1:1", 40, 41)
            .Build();

        Check(history).IsValid.Should().BeTrue();
    }

    [Fact]
    public void Check_FactoryRunOverlappingInvalidation_IsSuperseded()
    {
        // Unlike a Set, a factory run that began before the invalidation was invoked is superseded, even if it ended after.
        var history = new HistoryBuilder()
            .Factory("n1", "k1", "f:n1:1", 0, 100)
            .Remove("n1", "k1", 20, 30)
            .GetOrCreate("n1", "k1", "f:n1:1", 110, 111)
            .Build();

        Check(history).Violations.Should().ContainSingle();
    }

    [Fact]
    public void Check_ValueNobodyProduced_ReportsViolation()
    {
        var history = new HistoryBuilder().GetOrCreate("n1", "k1", "f:n9:1", 0, 1).Build();

        Check(history).Violations.Should().ContainSingle().Which.Kind.Should().Be("never produced");
    }

    [Fact]
    public void Check_ValueProducedForAnotherKey_ReportsViolation()
    {
        var history = new HistoryBuilder()
            .Set("n1", "k2", "s:n1:1", 0, 5)
            .TryGet("n1", "k1", "s:n1:1", 10, 11)
            .Build();

        Check(history).Violations.Should().ContainSingle().Which.Kind.Should().Be("wrong key");
    }

    [Fact]
    public void Check_SameValueProducedTwice_ReportsHarnessError()
    {
        var history = new HistoryBuilder()
            .Factory("n1", "k1", "f:n1:1", 0, 5)
            .Factory("n1", "k1", "f:n1:1", 10, 15)
            .Build();

        Check(history).HarnessErrors.Should().ContainSingle().Which.Should().Contain("two factory runs");
    }

    [Fact]
    public void Check_ValueReadBeforeItsFactoryBegan_ReportsHarnessError()
    {
        var history = new HistoryBuilder()
            .Factory("n1", "k1", "f:n1:1", 50, 60)
            .GetOrCreate("n2", "k1", "f:n1:1", 10, 20)
            .Build();

        Check(history).HarnessErrors.Should().ContainSingle().Which.Should().Contain("before it was produced");
    }

    [Fact]
    public void Check_OperationsOfOneLoopOverlap_ReportsHarnessError()
    {
        var history = new History(
            [
                new HistoryOperation("n1", 1, 0, "Remove", "k1", null, [], null, false, false, Outcome.Ok, null, 0, 10),
                new HistoryOperation("n1", 2, 0, "Remove", "k1", null, [], null, false, false, Outcome.Ok, null, 5, 12),
            ],
            []);

        Check(history).HarnessErrors.Should().ContainSingle().Which.Should().Contain("of the same loop");
    }

    [Fact]
    public void Parse_InvokeWithoutReturnAndTornLastLine_IndeterminateOperationAndNoError()
    {
        string[] lines =
        [
            """{"type":"invoke","node":"n1","id":1,"loop":0,"op":"Remove","key":"k1","inv":10.5}""",
            """{"type":"invoke","node":"n1","id":2,"loop":1,"op":"Set","key":"k1","value":"s:n1:2","tags":["tB"],"inv":11}""",
            """{"type":"op","node":"n1","id":2,"loop":1,"op":"Set","key":"k1","value":"s:n1:2","tags":["tB"],"outcome":"fail","error":"RedisTimeoutException: x","inv":11,"ret":20}""",
            """{"type":"factory","node":"n1","key":"k1","value":"f:n1:3","start":12,"end":13}""",
            """{"type":"invoke","node":"n1","id":4,"lo""",
        ];
        var operations = new List<HistoryOperation>();
        var factories = new List<FactoryRun>();
        var errors = new List<string>();

        History.Parse("n1", lines, operations, factories, errors);

        errors.Should().BeEmpty();
        operations.Should().HaveCount(2);
        operations.Should().ContainSingle(o => o.Op == "Remove").Which.Should().Match<HistoryOperation>(o => o.Outcome == Outcome.Indeterminate && o.Ret == null && o.Inv == 10.5);
        operations.Should().ContainSingle(o => o.Op == "Set").Which.Should().Match<HistoryOperation>(o => o.Outcome == Outcome.Fail && o.Ret == 20 && o.Tags.Single() == "tB");
        factories.Should().ContainSingle().Which.Should().Be(new FactoryRun("n1", "k1", "f:n1:3", 12, 13));
    }

    private static HistoryReport Check(History history) => new HistoryChecker(Bound).Check(history);

    /// <summary>Hand-written histories; keys carry the workload's tags (tA for even keys, tB for odd ones).</summary>
    private sealed class HistoryBuilder
    {
        private readonly List<HistoryOperation> _operations = [];
        private readonly List<FactoryRun> _factories = [];
        private long _id;

        public HistoryBuilder Factory(string node, string key, string value, double start, double end)
        {
            _factories.Add(new FactoryRun(node, key, value, start, end));
            return this;
        }

        public HistoryBuilder GetOrCreate(string node, string key, string value, double inv, double ret) =>
            Add(node, "GetOrCreate", key, null, value, true, false, Outcome.Ok, inv, ret);

        public HistoryBuilder TryGet(string node, string key, string? value, double inv, double ret, bool stale = false) =>
            Add(node, "TryGet", key, null, value, value is not null, stale, Outcome.Ok, inv, ret);

        public HistoryBuilder Set(string node, string key, string value, double inv, double ret, Outcome outcome = Outcome.Ok) =>
            Add(node, "Set", key, null, value, false, false, outcome, inv, ret);

        public HistoryBuilder Remove(string node, string key, double inv, double ret, Outcome outcome = Outcome.Ok) =>
            Add(node, "Remove", key, null, null, false, false, outcome, inv, ret);

        public HistoryBuilder Expire(string node, string key, double inv, double ret) =>
            Add(node, "Expire", key, null, null, false, false, Outcome.Ok, inv, ret);

        public HistoryBuilder RemoveByTag(string node, string tag, double inv, double ret) =>
            Add(node, "RemoveByTag", null, tag, null, false, false, Outcome.Ok, inv, ret);

        public History Build() => new(_operations, _factories);

        private HistoryBuilder Add(string node, string op, string? key, string? tag, string? value, bool hasValue, bool stale, Outcome outcome, double inv, double ret)
        {
            string[] tags = key is not null && op is "Set" or "GetOrCreate" ? [int.Parse(key![1..]) % 2 == 0 ? "tA" : "tB"] : [];
            _operations.Add(new HistoryOperation(node, ++_id, (int)_id, op, key, tag, tags, value, hasValue, stale, outcome, outcome == Outcome.Fail ? "Boom" : null, inv, outcome == Outcome.Indeterminate ? null : ret));
            return this;
        }
    }
}
