import ArgumentParser
import TriageEngine
import TriageLab
import TriagePresentation

Triage.main()
