global using System.Diagnostics;
global using System.Net;
global using FluentAssertions;
global using Microsoft.AspNetCore.Builder;
global using Microsoft.AspNetCore.Http;
global using StampedeGuard.TestSupport;
global using StampedeGuard.TestSupport.Http;
global using Xunit;
