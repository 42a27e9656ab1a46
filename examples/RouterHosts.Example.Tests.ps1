#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }, RouterHosts

# An example to copy: Pester tests of your own RouterHosts script against a real,
# throwaway agent instead of mocks. Start-RouterHostsDevAgent runs the agent that ships
# in the module (linux-x64; it needs the .NET 10 runtime), else routerhosts-agent on PATH,
# or the one you name with -AgentPath. Its data (database, certificates, the hosts file it
# writes, agent.log) stays in this file's $TestDrive, which Pester removes afterwards.
#
#   Invoke-Pester ./RouterHosts.Example.Tests.ps1
#
# This project's CI runs this very file (./build.ps1 -Task Pester).

BeforeAll {
    Import-Module RouterHosts

    # The script under test: yours would be dot-sourced instead, e.g. . $PSScriptRoot/Register-Lab.ps1
    function Register-LabHost {
        param([Parameter(Mandatory)] [string] $Name, [Parameter(Mandatory)] [string] $Address)
        if (Get-RouterHost -Hostname $Name -ErrorAction SilentlyContinue) {
            Set-RouterHost -Hostname $Name -IPAddress $Address
        }
        else {
            Add-RouterHost -IPAddress $Address -Hostname $Name -Tag lab -Comment 'registered by script'
        }
    }

    # A real agent for this file; its connection becomes the default for the cmdlets.
    Start-RouterHostsDevAgent -Path $TestDrive
}

# Runs also when a test (or BeforeAll) failed.
AfterAll { Stop-RouterHostsDevAgent }

Describe 'Register-LabHost' {
    BeforeEach {
        # Each test starts from an empty table.
        Get-RouterHost | Remove-RouterHost
    }

    It 'adds a new host tagged lab' {
        Register-LabHost -Name build01 -Address 10.1.0.10

        $hostEntry = Get-RouterHost build01
        $hostEntry.IPAddress | Should -Be '10.1.0.10'
        $hostEntry.Tags | Should -Be @('lab')
    }

    It 'moves an existing host to the new address and keeps its tags' {
        Add-RouterHost 10.1.0.20 build02 -Tag lab, ci

        Register-LabHost -Name build02 -Address 10.1.0.21

        $hostEntry = Get-RouterHost build02
        $hostEntry.IPAddress | Should -Be '10.1.0.21'
        $hostEntry.Tags | Should -Be @('lab', 'ci')
        @(Get-RouterHostHistory -Id $hostEntry.Id).Count | Should -Be 2   # the add, then the move
    }

    It 'fails clearly on a bad address, and adds nothing' {
        { Register-LabHost -Name build03 -Address 10.1.0.999 -ErrorAction Stop } |
            Should -Throw -ErrorId 'RouterHostsInvalidArgument,RouterHosts.Commands.AddRouterHostCommand'
        Get-RouterHost | Should -BeNullOrEmpty
    }
}
