global using Origin = StampedeGuard.TestSupport.Http.OriginCounter;
