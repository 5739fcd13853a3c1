import ArgumentParser
import TriageEngine

Triage.main()
